"""Stand-in for ``bert_layers.py`` (MosaicBERT) of zhihan1996/DNABERT-2-117M, written for the tests.

Read upstream: the hub file as copied in GitHub ashal-ali/CS224N_DNABERT2
(``bert_layers.py`` at commit 0109f62c658a22471afb0e9ad1dc1242e3cb3a8e; a second
copy, millanp95/reproduce_dnabert_2 at bb6b89eae0e1, has the same structure).
Behaviour reproduced, because the loader depends on it:

* ``BertModel.forward(input_ids, token_type_ids=None, attention_mask=None,
  position_ids=None, output_all_encoded_layers=False, masked_tokens_mask=None,
  **kwargs)`` returns a plain tuple ``(encoder_outputs, pooled_output)`` and
  ignores ``output_hidden_states``.
* ``BertEncoder`` un-pads the batch to ``(nnz, H)`` (the tokens whose mask is 1,
  in row-major order) before the first layer.  With
  ``output_all_encoded_layers=True`` every layer's output is returned
  **unpadded**; only the default call pads its single last layer back to
  ``(B, T, H)``.  The pooler then reads ``encoder_outputs[-1][:, 0]``, so a
  backbone *with* a pooler fails on the unpadded list (``BertForMaskedLM``'s
  backbone has none).
* Attention adds an ALiBi bias (per-head slopes ``2^(-8 i / n)``, distance
  ``|i - j|``) and ``-10000`` on padded keys; no position embeddings; post-LN
  layers with a gated-GELU MLP; parameter names as upstream (``Wqkv``,
  ``gated_layers``, ``wo``, ...).
* Attention is chosen at every call from the module global
  ``flash_attn_qkvpacked_func`` (set by ``try: from .flash_attn_triton import
  ...``): the triton kernel when it is not None and attention dropout is 0,
  else PyTorch.
* ``BertForMaskedLM`` (backbone without pooler) returns ``MaskedLMOutput`` with
  ``logits`` (B, T, V) and ``hidden_states`` set to the last layer's tensor
  (not a tuple of layers).

Not reproduced: the ``masked_tokens_mask``/``labels`` path (loss on masked
tokens only), sequence classification, the cached ALiBi tensor (computed per
call here).
"""

import math

import torch
from torch import nn
from transformers.activations import ACT2FN
from transformers.modeling_outputs import MaskedLMOutput
from transformers.models.bert.modeling_bert import BertPreTrainedModel

try:
    from .flash_attn_triton import flash_attn_qkvpacked_func
except ImportError:
    flash_attn_qkvpacked_func = None


def unpad(hidden_states, attention_mask):
    """(B, T, H) and (B, T) mask → (nnz, H) real-token rows and their flat indices (nnz,)."""
    indices = torch.nonzero(attention_mask.flatten(), as_tuple=False).flatten()
    return hidden_states.reshape(-1, hidden_states.shape[-1])[indices], indices


def pad(rows, indices, batch, seqlen):
    """Inverse of :func:`unpad`: (nnz, D) → (B, T, D), zeros at padding."""
    padded = rows.new_zeros(batch * seqlen, rows.shape[-1])
    padded[indices] = rows
    return padded.view(batch, seqlen, -1)


def alibi_slopes(n_heads):
    """ALiBi head slopes (Press et al. 2022); other head counts interleave the next power of two."""
    def power_of_two(n):
        return [2 ** (-8 * (i + 1) / n) for i in range(n)]

    if math.log2(n_heads).is_integer():
        return power_of_two(n_heads)
    closest = 2 ** math.floor(math.log2(n_heads))
    return power_of_two(closest) + alibi_slopes(2 * closest)[0::2][:n_heads - closest]


def alibi_bias(n_heads, seqlen, device):
    """(1, heads, T, T) bias ``-slope * |i - j|``."""
    position = torch.arange(seqlen, device=device)
    distance = (position[None, :] - position[:, None]).abs()
    slopes = torch.tensor(alibi_slopes(n_heads), device=device)
    return (-slopes[:, None, None] * distance)[None]


class BertEmbeddings(nn.Module):
    """Word + token-type embeddings, LayerNorm, dropout; no positions (ALiBi)."""

    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids=None, position_ids=None):
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        embedded = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embedded))


class BertUnpadSelfAttention(nn.Module):
    """Self-attention on unpadded rows: re-pads q, k, v, attends, un-pads the result."""

    def __init__(self, config):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.p_dropout = config.attention_probs_dropout_prob
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)
        self.Wqkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)

    def forward(self, hidden_states, indices, batch, seqlen, bias):
        qkv = pad(self.Wqkv(hidden_states), indices, batch, seqlen)
        qkv = qkv.view(batch, seqlen, 3, self.num_attention_heads, self.attention_head_size)
        if self.p_dropout or flash_attn_qkvpacked_func is None:
            query, key, value = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # (B, heads, T, d)
            scores = query @ key.transpose(-1, -2) / math.sqrt(self.attention_head_size) + bias
            context = (self.dropout(scores.softmax(-1)) @ value).transpose(1, 2)  # (B, T, heads, d)
        else:
            context = flash_attn_qkvpacked_func(qkv, bias)
        return context.reshape(batch * seqlen, -1)[indices]


class BertSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class BertUnpadAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = BertUnpadSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, indices, batch, seqlen, bias):
        return self.output(self.self(hidden_states, indices, batch, seqlen, bias), hidden_states)


class BertGatedLinearUnitMLP(nn.Module):
    """GELU(x W_gate) * (x W_value), projected back, residual, post-LN."""

    def __init__(self, config):
        super().__init__()
        self.intermediate_size = config.intermediate_size
        self.gated_layers = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.act = nn.GELU(approximate="none")
        self.wo = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        projected = self.gated_layers(hidden_states)
        gated = self.act(projected[:, :self.intermediate_size]) * projected[:, self.intermediate_size:]
        return self.layernorm(self.wo(self.dropout(gated)) + hidden_states)


class BertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = BertUnpadAttention(config)
        self.mlp = BertGatedLinearUnitMLP(config)

    def forward(self, hidden_states, indices, batch, seqlen, bias):
        return self.mlp(self.attention(hidden_states, indices, batch, seqlen, bias))


class BertEncoder(nn.Module):
    """Layer stack on the unpadded batch; see the module docstring for what it returns."""

    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])
        self.num_attention_heads = config.num_attention_heads

    def forward(self, hidden_states, attention_mask, output_all_encoded_layers=True, subset_mask=None):
        if subset_mask is not None:
            raise NotImplementedError("the DNABERT-2 stand-in does not reproduce the masked-token subset path")
        batch, seqlen = hidden_states.shape[:2]
        padding_bias = (1.0 - attention_mask[:, None, None, :].to(hidden_states.dtype)) * -10000.0
        bias = padding_bias + alibi_bias(self.num_attention_heads, seqlen, hidden_states.device)
        hidden_states, indices = unpad(hidden_states, attention_mask.bool())
        all_encoder_layers = []
        for layer_module in self.layer:
            hidden_states = layer_module(hidden_states, indices, batch, seqlen, bias)
            if output_all_encoded_layers:
                all_encoder_layers.append(hidden_states)  # unpadded (nnz, H), as upstream
        if not output_all_encoded_layers:
            all_encoder_layers.append(pad(hidden_states, indices, batch, seqlen))
        return all_encoder_layers


class BertPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class BertModel(BertPreTrainedModel):
    """MosaicBERT backbone: returns ``(encoder_outputs, pooled_output)``."""

    def __init__(self, config, add_pooling_layer=True):
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, position_ids=None,
                output_all_encoded_layers=False, masked_tokens_mask=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        embedding_output = self.embeddings(input_ids, token_type_ids, position_ids)
        encoder_outputs = self.encoder(embedding_output, attention_mask,
                                       output_all_encoded_layers=output_all_encoded_layers,
                                       subset_mask=masked_tokens_mask)
        sequence_output = encoder_outputs[-1]
        pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
        if not output_all_encoded_layers:
            encoder_outputs = sequence_output
        return encoder_outputs, pooled_output


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=1e-12)

    def forward(self, hidden_states):
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)  # weight tied to the word embeddings

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, sequence_output):
        return self.predictions(sequence_output)


class BertForMaskedLM(BertPreTrainedModel):
    """Backbone without pooler plus the tied MLM head."""

    _tied_weights_keys = ["cls.predictions.decoder.weight"]

    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings):
        self.cls.predictions.decoder = new_embeddings

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        if labels is not None:
            raise NotImplementedError("the DNABERT-2 stand-in computes no masked-LM loss")
        sequence_output, _ = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                       position_ids=position_ids)
        return MaskedLMOutput(logits=self.cls(sequence_output), hidden_states=sequence_output)
