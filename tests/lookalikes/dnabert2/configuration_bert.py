"""Stand-in for ``configuration_bert.py`` of zhihan1996/DNABERT-2-117M.

Upstream subclasses ``transformers.BertConfig`` under the same class name and
adds ``alibi_starting_size``, with attention dropout 0 by default (so the
triton kernel may be picked); the stand-in does the same.
"""

from transformers import BertConfig as NativeBertConfig


class BertConfig(NativeBertConfig):
    """Native BERT config plus ALiBi's starting size; ``model_type`` stays ``"bert"``."""

    def __init__(self, alibi_starting_size: int = 512, attention_probs_dropout_prob: float = 0.0, **kwargs):
        super().__init__(attention_probs_dropout_prob=attention_probs_dropout_prob, **kwargs)
        self.alibi_starting_size = alibi_starting_size
