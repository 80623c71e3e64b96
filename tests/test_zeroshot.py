"""Tests for glmeval_utils.score.zeroshot with tiny duck-typed toy gLMs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fake_glms import BASES, ToyCausalLM, ToyEmbedder, ToyMaskedLM, log_softmax, random_seq, saturation_table
from scipy import stats

from glmeval_utils.score import zeroshot as zs
from glmeval_utils.sequences import reverse_complement

CODE = {b: i for i, b in enumerate(BASES)}  # index into a distribution over ACGT


def rc_symmetric_table(rng):
    """Logits with T[l, r, b] == T[comp r, comp l, comp b] (complement of code c is 3 - c, N stays)."""
    table = rng.normal(size=(5, 5, 4))
    comp = np.array([3, 2, 1, 0, 4])
    mirrored = table[comp][:, comp].transpose(1, 0, 2)[:, :, ::-1]
    return (table + mirrored) / 2


class ToyOverlappingKmerMLM:
    """Overlapping 3-mer masked LM: masking base p masks every token starting in [p-2, p].

    Records, per masked position, the bases hidden from the model; its output
    is a fixed function of the visible (unmasked) bases only.
    """

    objective = "masked"
    name = "toy-3mer-mlm"
    max_length = 10_000
    k = 3

    def __init__(self):
        self.hidden_bases = []  # (seq, position, set of hidden base indices)

    def masked_log_probs(self, seq, positions, *, batch_size=32):
        out = []
        for p in positions:
            tokens = [s for s in range(len(seq) - self.k + 1) if s <= p < s + self.k]
            hidden = {i for s in tokens for i in range(s, s + self.k)}
            self.hidden_bases.append((seq, p, hidden))
            visible = "".join("N" if i in hidden else b for i, b in enumerate(seq))
            out.append(log_softmax([visible.count(b) for b in BASES]))
        return np.stack(out)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize("window, center", [(1, 0), (5, 2), (6, 2), (230, 114), (1000, 499)])
def test_window_center_convention(window, center):
    assert zs.window_center(window) == center


def test_windows_centred_in_element_and_shifted_at_edges(rng):
    seq = random_seq(rng, 40)
    table = saturation_table({"E": seq}, offsets=[0, 1, 3, 20, 37, 39])
    windows = zs.variant_windows(table, {"E": seq}, window=10, context="element")
    for (_, row), ref, alt, index in zip(table.iterrows(), windows.ref_seqs, windows.alt_seqs, windows.variant_index):
        assert len(ref) == len(alt) == 10
        start = row.offset - index
        assert 0 <= start <= 30 and ref == seq[start : start + 10]
        assert ref[index] == row.ref and alt[index] == row.alt
        assert ref[:index] == alt[:index] and ref[index + 1 :] == alt[index + 1 :]
        # centred (index 4 for an even window of 10) unless the element edge forces a shift
        expected = {0: 0, 1: 1, 3: 3, 20: 4, 37: 7, 39: 9}[row.offset]
        assert index == expected


def test_windows_pad_n_keep_variant_at_centre(rng):
    seq = random_seq(rng, 12)
    table = saturation_table({"E": seq}, offsets=[0, 5, 11])
    for window in (7, 8):
        windows = zs.variant_windows(table, {"E": seq}, window=window, context="pad_n")
        center = (window - 1) // 2
        assert np.all(windows.variant_index == center)
        for offset, ref in zip(table.offset, windows.ref_seqs):
            assert len(ref) == window
            expected = "".join(seq[i] if 0 <= i < 12 else "N" for i in range(offset - center, offset - center + window))
            assert ref == expected


def test_short_element_is_used_whole_in_element_context(rng):
    seq = random_seq(rng, 9)
    table = saturation_table({"E": seq})
    windows = zs.variant_windows(table, {"E": seq}, window=50, context="element")
    assert set(windows.ref_seqs) == {seq}
    np.testing.assert_array_equal(windows.variant_index, table.offset.to_numpy())


def test_reference_mismatch_names_element_and_offset():
    table = pd.DataFrame({"element": ["LDLR"], "offset": [2], "ref": ["A"], "alt": ["C"]})
    with pytest.raises(ValueError, match=r"row 0: reference allele 'A' does not match element 'LDLR' at offset 2"):
        zs.variant_windows(table, {"LDLR": "CCGCC"}, window=3)
    with pytest.raises(ValueError, match="offset 7 outside element 'LDLR'"):
        zs.variant_windows(table.assign(offset=7), {"LDLR": "CCGCC"}, window=3)
    with pytest.raises(ValueError, match="no sequence for element 'LDLR'"):
        zs.variant_windows(table, {"F9": "CCACC"}, window=3)


def test_element_sequences_from_seq_column(rng):
    seq = random_seq(rng, 8)
    table = saturation_table({"E": seq}).assign(seq=seq)
    windows = zs.variant_windows(table, None, window=5)
    assert windows.ref_seqs[0] == seq[:5]
    bad = table.copy()
    bad.loc[3, "seq"] = "A" * 8
    with pytest.raises(ValueError, match="row 3: element 'E' has two different sequences"):
        zs.element_sequences(bad)


# --------------------------------------------------------------------------- masked LLR


@pytest.mark.parametrize("context", ["element", "pad_n"])
def test_masked_llr_equals_analytic_value(rng, context):
    model = ToyMaskedLM(rng.normal(size=(5, 5, 4)), position_bias=rng.normal(size=(3, 4)))
    seqs = {"E1": random_seq(rng, 25), "E2": random_seq(rng, 14)}
    table = saturation_table(seqs)
    scores = zs.score_variants(model, table, seqs, method="masked_llr", window=11, context=context, progress=False)
    windows = zs.variant_windows(table, seqs, window=11, context=context)
    for row, (ref, index) in enumerate(zip(windows.ref_seqs, windows.variant_index)):
        log_p = model.analytic(ref, index)
        assert scores[row] == pytest.approx(log_p[CODE[table.alt[row]]] - log_p[CODE[table.ref[row]]])


def test_masked_llr_one_pass_per_position_and_same_as_per_variant_loop(rng):
    model = ToyMaskedLM(rng.normal(size=(5, 5, 4)), position_bias=rng.normal(size=(3, 4)))
    seqs = {"E1": random_seq(rng, 30), "E2": random_seq(rng, 8)}
    table = saturation_table(seqs).sample(frac=1.0, random_state=0)  # order must not matter
    scores = zs.score_variants(model, table, seqs, method="masked_llr", window=12, progress=False)
    masked_positions = sum(len(positions) for _, positions in model.calls)
    assert masked_positions == 30 + 8  # one per (element, position), not one per variant
    # one call per distinct reference window: E1 has 19 window starts (shifted windows at
    # its edges coincide), E2 fits the window whole, so one call covers all its positions
    assert len(model.calls) == 19 + 1

    windows = zs.variant_windows(table, seqs, window=12)
    naive = []
    for ref_seq, index, ref, alt in zip(windows.ref_seqs, windows.variant_index, table.ref, table.alt):
        log_p = model.masked_log_probs(ref_seq, [index])[0]
        naive.append(log_p[CODE[alt]] - log_p[CODE[ref]])
    np.testing.assert_allclose(scores, naive, atol=1e-12)


def swapped(table, seqs):
    """The same variants described from the alternative allele's sequence."""
    new_seqs = dict(seqs)
    rows = []
    for row in table.itertuples(index=False):
        seq = new_seqs[row.element]
        new_seqs[row.element] = seq[: row.offset] + row.alt + seq[row.offset + 1 :]
        rows.append({"element": row.element, "offset": row.offset, "ref": row.alt, "alt": row.ref})
    return pd.DataFrame(rows), new_seqs


def test_swapping_ref_and_alt_flips_both_llrs(rng):
    seqs = {"E1": random_seq(rng, 20), "E2": random_seq(rng, 20)}
    table = pd.DataFrame(
        [{"element": "E1", "offset": 7, "ref": seqs["E1"][7], "alt": "ACGT"[(CODE[seqs["E1"][7]] + 1) % 4]},
         {"element": "E2", "offset": 0, "ref": seqs["E2"][0], "alt": "ACGT"[(CODE[seqs["E2"][0]] + 2) % 4]}]
    )
    swapped_table, swapped_seqs = swapped(table, seqs)
    for model, method in [(ToyMaskedLM(rng.normal(size=(5, 5, 4))), "masked_llr"), (ToyCausalLM(rng), "causal_llr")]:
        forward = zs.score_variants(model, table, seqs, method=method, window=9, progress=False)
        backward = zs.score_variants(model, swapped_table, swapped_seqs, method=method, window=9, progress=False)
        assert np.all(forward != 0)
        np.testing.assert_allclose(backward, -forward, atol=1e-12)


def rc_counterparts(seq):
    """An element, its reverse complement, and matching saturation tables."""
    rc = reverse_complement(seq)
    seqs = {"fwd": seq, "rev": rc}
    table = saturation_table({"fwd": seq})
    counterpart = table.assign(
        element="rev",
        offset=len(seq) - 1 - table.offset,
        ref=[reverse_complement(b) for b in table.ref],
        alt=[reverse_complement(b) for b in table.alt],
    )
    return seqs, table, counterpart


@pytest.mark.parametrize("method", ["masked_llr", "causal_llr", "cosine_full", "l2_mean"])
def test_strand_averaging_gives_equal_scores_for_reverse_complement_counterparts(rng, method):
    seqs, table, counterpart = rc_counterparts(random_seq(rng, 15))
    model = {
        "masked_llr": ToyMaskedLM(rng.normal(size=(5, 5, 4)), position_bias=rng.normal(size=(3, 4))),
        "causal_llr": ToyCausalLM(rng),
    }.get(method) or ToyEmbedder(rng)
    # whole-element windows: the two elements' windows are exact reverse complements
    kwargs = dict(method=method, window=20, progress=False)
    one = zs.score_variants(model, table, seqs, strands="both", **kwargs)
    other = zs.score_variants(model, counterpart, seqs, strands="both", **kwargs)
    np.testing.assert_allclose(one, other, atol=1e-9)
    # the toy is not strand-symmetric, so forward-only scores differ: averaging did the work
    assert not np.allclose(
        zs.score_variants(model, table, seqs, **kwargs), zs.score_variants(model, counterpart, seqs, **kwargs)
    )


def test_rc_symmetric_model_scores_counterparts_equally_on_one_strand(rng):
    model = ToyMaskedLM(rc_symmetric_table(rng))
    seqs, table, counterpart = rc_counterparts(random_seq(rng, 15))
    for strands in ("fwd", "both"):
        one = zs.score_variants(model, table, seqs, method="masked_llr", window=20, strands=strands, progress=False)
        other = zs.score_variants(model, counterpart, seqs, method="masked_llr", window=20, strands=strands, progress=False)
        np.testing.assert_allclose(one, other, atol=1e-12)


@pytest.mark.parametrize("strands", ["fwd", "both"])
def test_every_kmer_token_overlapping_the_variant_is_masked(rng, strands):
    model = ToyOverlappingKmerMLM()
    seqs = {"E": random_seq(rng, 16)}
    table = saturation_table(seqs, offsets=[0, 1, 8, 15])
    zs.score_variants(model, table, seqs, method="masked_llr", window=9, strands=strands, progress=False)
    windows = zs.variant_windows(table, seqs, window=9)
    expected = {(ref, int(i)) for ref, i in zip(windows.ref_seqs, windows.variant_index)}
    if strands == "both":
        rc = windows.reverse_complement()
        expected |= {(ref, int(i)) for ref, i in zip(rc.ref_seqs, rc.variant_index)}
    assert {(seq, p) for seq, p, _ in model.hidden_bases} == expected
    for seq, p, hidden in model.hidden_bases:
        overlapping = {i for s in range(len(seq) - 2) if s <= p < s + 3 for i in range(s, s + 3)}
        assert p in hidden and hidden == overlapping


def test_masked_llr_refuses_a_causal_model(rng):
    seqs = {"E": random_seq(rng, 6)}
    with pytest.raises(ValueError, match="masked_llr needs a masked language model; toy-clm"):
        zs.score_variants(ToyCausalLM(rng), saturation_table(seqs), seqs, method="masked_llr", window=5)


# --------------------------------------------------------------------------- causal LLR


def test_causal_llr_analytic_and_zero_for_identical_windows(rng):
    model = ToyCausalLM(rng)
    seqs = {"E": random_seq(rng, 12)}
    table = saturation_table(seqs, offsets=[0, 6, 11])
    same = pd.DataFrame({"element": ["E"], "offset": [4], "ref": [seqs["E"][4]], "alt": [seqs["E"][4]]})
    table = pd.concat([table, same], ignore_index=True)
    scores = zs.score_variants(model, table, seqs, method="causal_llr", window=8, context="pad_n", progress=False)
    assert scores[-1] == 0.0
    windows = zs.variant_windows(table, seqs, window=8, context="pad_n")

    def total(seq):  # N padding and unscorable (NaN) bases are left out of the sum
        log_p = model.token_log_probs([seq])[0]
        return sum(v for v, b in zip(log_p, seq) if b != "N" and np.isfinite(v))

    expected = [total(alt) - total(ref) for ref, alt in zip(windows.ref_seqs, windows.alt_seqs)]
    np.testing.assert_allclose(scores, expected, atol=1e-12)


def test_causal_llr_scores_each_distinct_window_once(rng):
    model = ToyCausalLM(rng)
    seqs = {"E": random_seq(rng, 10)}
    table = saturation_table(seqs)
    zs.score_variants(model, table, seqs, method="causal_llr", window=40, progress=False)
    assert len(model.scored) == len(set(model.scored)) == 1 + len(table)


# --------------------------------------------------------------------------- distances


def brute_force_distances(model, windows):
    """The four distance scores of every variant, one window pair at a time."""
    expected = {name: [] for name in zs.DISTANCE_SCORES}
    for ref, alt in zip(windows.ref_seqs, windows.alt_seqs):
        a_full, b_full = model.full(ref), model.full(alt)
        for pooling, a, b in (("full", a_full.ravel(), b_full.ravel()),
                              ("mean", a_full.mean(axis=0), b_full.mean(axis=0))):
            expected[f"cosine_{pooling}"].append(1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b))
            expected[f"l2_{pooling}"].append(np.linalg.norm(a - b))
    return pd.DataFrame(expected)


@pytest.mark.parametrize("method", zs.DISTANCE_SCORES)
def test_score_variants_distances_match_numpy(rng, method):
    model = ToyEmbedder(rng)
    seqs = {"E1": random_seq(rng, 18), "E2": random_seq(rng, 7)}  # two window lengths
    table = saturation_table(seqs)
    scores = zs.score_variants(model, table, seqs, method=method, window=10, progress=False)
    assert len(model.embedded) == len(set(model.embedded))  # each window embedded once
    expected = brute_force_distances(model, zs.variant_windows(table, seqs, window=10))[method]
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert np.all(scores > 0)


def test_embedding_distances_one_pass_and_memory_chunks(rng, monkeypatch):
    model = ToyEmbedder(rng)
    seqs = {"E1": random_seq(rng, 18), "E2": random_seq(rng, 7)}  # two window lengths
    table = saturation_table(seqs, with_seq=True)
    table = pd.concat([table, table.iloc[:3]], ignore_index=True)  # a repeated variant
    distances = zs.embedding_distances(model, table, seqs, window=11, progress=False)
    assert list(distances.columns) == list(zs.DISTANCE_SCORES) and len(distances) == len(table)
    windows = zs.variant_windows(table, seqs, window=11)
    np.testing.assert_allclose(distances, brute_force_distances(model, windows), rtol=1e-5, atol=1e-6)
    assert (distances.to_numpy() > 0).all()
    # all four scores from one pass: each distinct window embedded once
    assert sorted(model.embedded) == sorted(set(windows.ref_seqs + windows.alt_seqs))
    # room for 4 variants of 11 nt per chunk: several chunks per window length, same scores
    monkeypatch.setattr(zs, "_EMBED_CHUNK_BYTES", 4 * 2 * 11 * ToyEmbedder.hidden_size * 4)
    chunked = zs.embedding_distances(model, table, seqs, window=11, progress=False)
    pd.testing.assert_frame_equal(chunked, distances)


def test_mean_distances_equal_mean_pooling_for_single_nucleotide_tokens(rng):
    model = ToyEmbedder(rng)
    seqs = {"E": random_seq(rng, 12)}
    table = saturation_table(seqs, offsets=[0, 5, 11])
    distances = zs.embedding_distances(model, table, seqs, window=9, progress=False)
    windows = zs.variant_windows(table, seqs, window=9)
    pooled_ref = model.embed(windows.ref_seqs, pooling="mean")[:, 0]
    pooled_alt = model.embed(windows.alt_seqs, pooling="mean")[:, 0]
    cosine, l2 = zs._pair_distances(pooled_ref, pooled_alt)
    np.testing.assert_allclose(distances["cosine_mean"], cosine, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(distances["l2_mean"], l2, rtol=1e-5, atol=1e-7)


def test_embedding_distances_refuse_windows_longer_than_the_model(rng):
    model = ToyEmbedder(rng)
    model.max_length = 8
    seqs = {"E": random_seq(rng, 12)}
    with pytest.raises(ValueError, match="max_length 8"):
        zs.embedding_distances(model, saturation_table(seqs, [3]), seqs, window=11, progress=False)


# --------------------------------------------------------------------------- strands and every score of a model


def test_reverse_strand_is_an_involution_and_matches_reverse_complement(rng):
    seqs = {"E": random_seq(rng, 12)}
    table = saturation_table(seqs, offsets=[0, 5, 11], with_seq=True)
    rc, rc_seqs = zs.reverse_strand(table, seqs)
    assert rc_seqs["E"] == reverse_complement(seqs["E"])
    for row, rc_row in zip(table.itertuples(), rc.itertuples()):
        assert rc_seqs["E"][rc_row.offset] == rc_row.ref
        assert reverse_complement(rc_row.alt) == row.alt
    back, back_seqs = zs.reverse_strand(rc)
    assert back_seqs == seqs
    pd.testing.assert_frame_equal(back, table)
    with pytest.raises(ValueError, match="no sequence for element 'E'"):
        zs.reverse_strand(table, {"other": "ACGT"})


@pytest.mark.parametrize("make_model, method", [(ToyMaskedLM.random, "masked_llr"), (ToyCausalLM, "causal_llr")])
@pytest.mark.parametrize("window", [7, 9, 40])
def test_strand_scores_both_equals_score_variants_both(rng, make_model, method, window):
    seqs = {"E1": random_seq(rng, 25), "E2": random_seq(rng, 6)}
    table = saturation_table(seqs, with_seq=True)
    model = make_model(rng)
    scores = zs.strand_scores(model, table, seqs, method=method, window=window, progress=False)
    expected_both = zs.score_variants(model, table, seqs, method=method, window=window,
                                      strands="both", progress=False)
    expected_fwd = zs.score_variants(model, table, seqs, method=method, window=window, progress=False)
    np.testing.assert_allclose(scores["both"], expected_both, atol=1e-12)
    np.testing.assert_allclose(scores["fwd"], expected_fwd, atol=1e-12)
    assert not np.allclose(scores["fwd"], scores["rev"])  # the toys are not strand-symmetric


def test_strand_scores_refuse_even_windows_shorter_than_an_element(rng):
    seqs = {"E": random_seq(rng, 20)}
    with pytest.raises(ValueError, match="even"):
        zs.strand_scores(ToyMaskedLM.random(rng), saturation_table(seqs, [3], with_seq=True), seqs,
                         method="masked_llr", window=8, progress=False)


def test_score_model_columns_follow_the_objective(rng):
    seqs = {"E": random_seq(rng, 15)}
    table = saturation_table(seqs, offsets=[2, 7], with_seq=True)
    masked = zs.score_model(ToyMaskedLM.random(rng), table, seqs, window=9, distances=False, progress=False)
    assert list(masked.columns) == ["masked_llr_fwd", "abs_masked_llr_fwd", "masked_llr_both",
                                    "abs_masked_llr_both"]
    np.testing.assert_allclose(masked.abs_masked_llr_both, masked.masked_llr_both.abs())
    embed_only = zs.score_model(ToyEmbedder(rng), table, seqs, window=9, progress=False)
    assert list(embed_only.columns) == list(zs.DISTANCE_SCORES)
    assert len(embed_only) == len(table)


# --------------------------------------------------------------------------- supervised comparator


def test_delta_prediction_pads_short_elements_and_predicts_each_window_once(rng):
    seqs = {"long": random_seq(rng, 30), "short": random_seq(rng, 5)}
    table = saturation_table(seqs)
    seen = []

    def gc_weighted(batch):
        seen.extend(batch)
        assert all(len(s) == 10 for s in batch)
        return np.array([sum((i + 1) * (b in "GC") for i, b in enumerate(s)) for s in batch], dtype=float)

    delta = zs.delta_prediction(gc_weighted, table, seqs, window=10)
    assert len(seen) == len(set(seen))
    assert "NN" + seqs["short"] + "NNN" in seen
    windows = zs.variant_windows(table, seqs, window=10)
    for row, (ref, alt, index) in enumerate(zip(windows.ref_seqs, windows.alt_seqs, windows.variant_index)):
        shift = (10 - len(ref)) // 2
        weight = index + shift + 1
        assert delta[row] == weight * ((alt[index] in "GC") - (ref[index] in "GC"))


# --------------------------------------------------------------------------- real adapters (tiny look-alikes)


def test_real_6mer_adapter_masks_the_covering_token(tmp_path, rng):
    from toy_glms import save_nt_like

    from glmeval_utils.models import from_local

    glm = from_local("nt", save_nt_like(tmp_path / "nt"))
    seqs = {"E": random_seq(rng, 30)}
    offsets = [0, 7, 13, 29]
    table = saturation_table(seqs, offsets=offsets)
    masked_rows = []

    def record(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        masked_rows.extend(tuple(np.flatnonzero(row == glm.tokenizer.mask_id)) for row in ids.cpu().numpy())

    handle = glm.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        scores = zs.score_variants(glm, table, seqs, method="masked_llr", window=40, progress=False)
    finally:
        handle.remove()
    spans = np.asarray(glm.tokenize([seqs["E"]]).token_spans[0])
    covering = [tuple(np.flatnonzero((spans[:, 0] <= p) & (p < spans[:, 1]))) for p in offsets]
    assert all(len(tokens) == 1 for tokens in covering)  # non-overlapping 6-mers: one token each
    assert sorted(masked_rows) == sorted(covering)  # one masked pass per position, covering token only
    assert np.all(np.isfinite(scores))
    swapped_table, swapped_seqs = swapped(table.iloc[[0]], seqs)
    back = zs.score_variants(glm, swapped_table, swapped_seqs, method="masked_llr", window=40, progress=False)
    assert back[0] == pytest.approx(-scores[0], abs=1e-5)


def test_real_causal_adapter_llr(tmp_path, rng):
    from toy_glms import save_teaching

    from glmeval_utils.models import from_local

    glm = from_local("teaching-clm", save_teaching(tmp_path / "clm", "clm"), objective="causal")
    seqs = {"E": random_seq(rng, 20)}
    table = saturation_table(seqs, offsets=[0, 10, 19])
    scores = zs.score_variants(glm, table, seqs, method="causal_llr", window=12, context="pad_n", progress=False)
    windows = zs.variant_windows(table, seqs, window=12, context="pad_n")
    ref_lp = glm.token_log_probs(windows.ref_seqs)
    alt_lp = glm.token_log_probs(windows.alt_seqs)
    expected = [np.nansum(a) - np.nansum(r) for r, a in zip(ref_lp, alt_lp)]
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    assert np.all(np.isfinite(scores)) and np.all(scores != 0)
