"""Stand-in for ``esm_config.py`` of InstaDeepAI/nucleotide-transformer-v2-*-multi-species.

Upstream defines its own ``EsmConfig`` (``model_type = "esm"``, the same
class name as native ``transformers``) with the extra flag ``add_bias_fnn``
(False in every v2 checkpoint: bias-free SwiGLU feed-forward).  The hub
``config.json`` maps only ``AutoConfig`` and the task heads in ``auto_map``
(no ``AutoModel``), which is why the registry loads v2 with
``AutoModelForMaskedLM``.
"""

from transformers import PretrainedConfig


class EsmConfig(PretrainedConfig):
    """ESM hyper-parameters as NT v2 uses them (rotary positions, SwiGLU feed-forward)."""

    model_type = "esm"

    def __init__(self, vocab_size=None, mask_token_id=None, pad_token_id=None, hidden_size=768, num_hidden_layers=12,
                 num_attention_heads=12, intermediate_size=3072, hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1, max_position_embeddings=1026, initializer_range=0.02,
                 layer_norm_eps=1e-12, position_embedding_type="rotary", emb_layer_norm_before=None,
                 token_dropout=False, add_bias_fnn=True, **kwargs):
        super().__init__(pad_token_id=pad_token_id, mask_token_id=mask_token_id, **kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.position_embedding_type = position_embedding_type
        self.emb_layer_norm_before = emb_layer_norm_before
        self.token_dropout = token_dropout
        self.add_bias_fnn = add_bias_fnn
