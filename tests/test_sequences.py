import numpy as np
import pytest

from glmeval_utils import sequences as sq


def test_validate_uppercases_and_accepts_n():
    assert sq.validate_sequences(["acgtn", "ACGT"]) == ["ACGTN", "ACGT"]


def test_validate_names_file_row_and_id():
    with pytest.raises(sq.SequenceError, match=r"train\.csv: row 1 \(id 'b'\): invalid character 'X' at position 2"):
        sq.validate_sequences(["ACGT", "ACXT"], source="train.csv", ids=["a", "b"])


def test_validate_rejects_n_when_disallowed_and_checks_lengths():
    with pytest.raises(sq.SequenceError, match="invalid character 'N'"):
        sq.validate_sequences(["ACNT"], allow_n=False)
    with pytest.raises(sq.SequenceError, match="expected exactly 5"):
        sq.validate_sequences(["ACGT"], length=5)
    with pytest.raises(sq.SequenceError, match="exceeds the maximum 3"):
        sq.validate_sequences(["ACGT"], max_length=3)
    with pytest.raises(sq.SequenceError, match="below the minimum 5"):
        sq.validate_sequences(["ACGT"], min_length=5)
    with pytest.raises(sq.SequenceError, match="empty sequence"):
        sq.validate_sequences([""], source="f.tsv")


def test_one_hot_layout_n_is_zero_and_padding():
    x = sq.one_hot(["ACGTN", "ac"], length=6)
    assert x.shape == (2, 4, 6)
    np.testing.assert_array_equal(x[0, :, :4], np.eye(4))
    assert x[0, :, 4].sum() == 0 and x[1, :, 2:].sum() == 0
    assert x[1, 0, 0] == 1 and x[1, 1, 1] == 1
    assert sq.one_hot("ACGT").shape == (4, 4)
    with pytest.raises(sq.SequenceError, match="invalid character 'X'"):
        sq.one_hot(["AXG"])
    with pytest.raises(sq.SequenceError, match="does not fit"):
        sq.one_hot(["ACGT"], length=3)


def test_decode_roundtrip():
    seqs = ["ACGTNA", "TTGCAC"]
    assert sq.decode_one_hot(sq.one_hot(seqs)) == seqs


def test_reverse_complement_string_and_one_hot_agree():
    seq = "AACGTNTG"
    assert sq.reverse_complement(seq) == "CANACGTT"
    assert sq.reverse_complement([seq, "ac"]) == ["CANACGTT", "gt"]
    np.testing.assert_array_equal(
        sq.reverse_complement_one_hot(sq.one_hot(seq)), sq.one_hot(sq.reverse_complement(seq))
    )
    torch = pytest.importorskip("torch")
    x = torch.tensor(sq.one_hot([seq]))
    np.testing.assert_array_equal(sq.reverse_complement_one_hot(x).numpy(), sq.one_hot([sq.reverse_complement(seq)]))


@pytest.mark.parametrize(
    "align,expected_pad,expected_crop",
    [("center", "NACGN", "CG"), ("left", "ACGNN", "AC"), ("right", "NNACG", "GT")],
)
def test_pad_or_crop(align, expected_pad, expected_crop):
    assert sq.pad_or_crop("ACG", 5, align=align) == expected_pad
    assert sq.pad_or_crop("ACGT", 2, align=align) == expected_crop
    assert sq.pad_or_crop("ACGT", 4, align=align) == "ACGT"


def test_dinucleotide_shuffle_preserves_counts_exactly():
    rng = np.random.default_rng(0)
    for trial in range(50):
        seq = "".join(rng.choice(list("ACGTN"), size=rng.integers(3, 120), p=[0.3, 0.2, 0.2, 0.25, 0.05]))
        shuffled = sq.dinucleotide_shuffle(seq, seed=trial)
        assert len(shuffled) == len(seq)
        assert shuffled[0] == seq[0] and shuffled[-1] == seq[-1]
        assert sq.dinucleotide_counts(shuffled) == sq.dinucleotide_counts(seq)


def test_dinucleotide_shuffle_randomises_and_is_seeded():
    seq = "ACGTTGCAAGCTAGCTAGGATCCGATCGATTACGATCGGCTAGCTAGCATCG" * 2
    a = sq.dinucleotide_shuffle(seq, seed=1)
    assert a == sq.dinucleotide_shuffle(seq, seed=1)
    assert a != seq
    assert len({sq.dinucleotide_shuffle(seq, seed=s) for s in range(10)}) > 5


def test_grouped_split_keeps_groups_together_and_is_order_free():
    groups = [f"el{i // 2}" for i in range(400)]
    split = sq.grouped_split(groups, fractions=(0.8, 0.1, 0.1), seed=3)
    for g in set(groups):
        assert len(set(split[np.array(groups) == g])) == 1
    counts = {s: (split == s).sum() for s in ("train", "valid", "test")}
    assert counts == {"train": 320, "valid": 40, "test": 40}
    reversed_split = sq.grouped_split(groups[::-1], fractions=(0.8, 0.1, 0.1), seed=3)
    np.testing.assert_array_equal(reversed_split[::-1], split)
    with pytest.raises(ValueError, match="summing to 1"):
        sq.grouped_split(groups, fractions=(0.5, 0.1, 0.1))
