"""Stand-in for ``modeling_esm.py`` of InstaDeepAI/nucleotide-transformer-v2-*-multi-species, written for the tests.

Upstream is ``transformers``' 2023 ESM modelling file with a different
feed-forward.  The hub file itself was not reachable; what is reproduced was
read in third-party derivatives of it in a public code index (files carrying
its SwiGLU ``EsmIntermediate`` with ``bias=config.add_bias_fnn`` next to the
unchanged ESM rotary/encoder code; no repository name or commit was given)
and in the project's notes on the gLM families (NT section).  Behaviour reproduced:

* pre-LN encoder layers; rotary position embeddings applied after scaling the
  query by ``head_dim ** -0.5``; additive ``finfo.min`` mask on padded keys;
  token embeddings multiplied by the attention mask; optional token dropout
  (off in v2); a final ``emb_layer_norm_after``;
* the feed-forward ``EsmIntermediate`` projects to ``2 * intermediate_size``,
  splits, and gates with SiLU (``bias=config.add_bias_fnn``, False in v2);
  ``EsmOutput`` projects back, also bias-free;
* ``output_hidden_states=True`` gives ``n_layers + 1`` states: the input of
  every layer, then the final state after ``emb_layer_norm_after``;
* ``EsmForMaskedLM`` keeps the backbone in ``self.esm`` (``base_model_prefix``)
  and its LM head is dense, GELU, LayerNorm, decoder plus a separate bias.

Not reproduced: absolute/relative positions, attention outputs, head masks,
cross-attention and caching, the classification heads, the MLM loss.
"""

import math

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPoolingAndCrossAttentions, MaskedLMOutput

from .esm_config import EsmConfig


def rotate_half(x):
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rotary(x):
    """Rotary position embedding of (B, heads, T, d) queries or keys (positions 0..T-1)."""
    head_dim, seqlen = x.shape[-1], x.shape[-2]
    inverse_frequency = 1.0 / (10000 ** (torch.arange(0, head_dim, 2, device=x.device).float() / head_dim))
    angles = torch.outer(torch.arange(seqlen, device=x.device).float(), inverse_frequency)
    angles = torch.cat((angles, angles), dim=-1)
    return x * angles.cos().to(x.dtype) + rotate_half(x) * angles.sin().to(x.dtype)


def gelu(x):
    """Exact (erf) GELU, as ESM's head uses."""
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


class EsmEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.layer_norm = (nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
                           if config.emb_layer_norm_before else None)
        self.token_dropout = config.token_dropout
        self.mask_token_id = config.mask_token_id

    def forward(self, input_ids, attention_mask):
        embeddings = self.word_embeddings(input_ids)
        if self.token_dropout:
            # Masked tokens are zeroed and the rest rescaled, as during ESM training (15% x 80% masked).
            is_mask = (input_ids == self.mask_token_id).unsqueeze(-1)
            embeddings = embeddings.masked_fill(is_mask, 0.0)
            observed = is_mask.squeeze(-1).sum(-1).float() / attention_mask.sum(-1)
            embeddings = embeddings * (1 - 0.15 * 0.8) / (1 - observed)[:, None, None]
        if self.layer_norm is not None:
            embeddings = self.layer_norm(embeddings)
        return embeddings * attention_mask.unsqueeze(-1).to(embeddings.dtype)


class EsmSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def _heads(self, x):
        batch, seqlen, _ = x.shape
        return x.view(batch, seqlen, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

    def forward(self, hidden_states, extended_mask):
        query = self._heads(self.query(hidden_states)) * self.attention_head_size ** -0.5
        key, value = self._heads(self.key(hidden_states)), self._heads(self.value(hidden_states))
        query, key = apply_rotary(query), apply_rotary(key)
        scores = query @ key.transpose(-1, -2) + extended_mask
        context = self.dropout(scores.softmax(-1)) @ value
        return context.transpose(1, 2).reshape(hidden_states.shape)


class EsmSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.dropout(self.dense(hidden_states)) + residual


class EsmAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = EsmSelfAttention(config)
        self.output = EsmSelfOutput(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, extended_mask):
        return self.output(self.self(self.LayerNorm(hidden_states), extended_mask), hidden_states)


class EsmIntermediate(nn.Module):
    """SwiGLU: SiLU(first half) * second half of a 2 x intermediate projection."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=config.add_bias_fnn)

    def forward(self, hidden_states):
        gate, value = self.dense(hidden_states).chunk(2, dim=-1)
        return nn.functional.silu(gate) * value


class EsmOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size, bias=config.add_bias_fnn)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.dropout(self.dense(hidden_states)) + residual


class EsmLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = EsmAttention(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.intermediate = EsmIntermediate(config)
        self.output = EsmOutput(config)

    def forward(self, hidden_states, extended_mask):
        attended = self.attention(hidden_states, extended_mask)
        return self.output(self.intermediate(self.LayerNorm(attended)), attended)


class EsmEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList([EsmLayer(config) for _ in range(config.num_hidden_layers)])
        self.emb_layer_norm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, extended_mask, output_hidden_states=False):
        all_hidden_states = ()
        for layer_module in self.layer:
            all_hidden_states += (hidden_states,)
            hidden_states = layer_module(hidden_states, extended_mask)
        hidden_states = self.emb_layer_norm_after(hidden_states)
        all_hidden_states += (hidden_states,)
        return hidden_states, all_hidden_states if output_hidden_states else None


class EsmPreTrainedModel(PreTrainedModel):
    config_class = EsmConfig
    base_model_prefix = "esm"

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()
        elif isinstance(module, nn.Embedding) and module.padding_idx is not None:
            module.weight.data[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)


class EsmModel(EsmPreTrainedModel):
    """Backbone; ``forward`` returns a ``BaseModelOutputWithPoolingAndCrossAttentions``."""

    def __init__(self, config):
        super().__init__(config)
        if config.position_embedding_type != "rotary":
            raise ValueError("the NT v2 stand-in implements rotary positions only, got "
                             f"{config.position_embedding_type!r}")
        self.embeddings = EsmEmbeddings(config)
        self.encoder = EsmEncoder(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None, inputs_embeds=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        embedded = self.embeddings(input_ids, attention_mask)
        extended_mask = self.get_extended_attention_mask(attention_mask, input_ids.shape)
        last, hidden_states = self.encoder(embedded, extended_mask, output_hidden_states=bool(output_hidden_states))
        return BaseModelOutputWithPoolingAndCrossAttentions(last_hidden_state=last, hidden_states=hidden_states)


class EsmLMHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, features):
        return self.decoder(self.layer_norm(gelu(self.dense(features)))) + self.bias


class EsmForMaskedLM(EsmPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.esm = EsmModel(config)
        self.lm_head = EsmLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings):
        self.lm_head.decoder = new_embeddings

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None, inputs_embeds=None,
                encoder_hidden_states=None, encoder_attention_mask=None, labels=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        if labels is not None:
            raise NotImplementedError("the NT v2 stand-in computes no masked-LM loss")
        outputs = self.esm(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states)
        return MaskedLMOutput(logits=self.lm_head(outputs.last_hidden_state), hidden_states=outputs.hidden_states)
