from glmeval_utils.eval.paper import paper_results


def test_paper_table_is_tidy_and_has_every_task():
    table = paper_results()
    assert set(table.task) == {"lentimpra", "tf_binding", "rbp_binding", "cagi5", "splicing", "pol2_elongation"}
    assert not table.duplicated(["task", "dataset", "model", "representation", "probe", "metric"]).any()
    assert table.value.between(-1, 1).all()


def test_headline_numbers_match_the_reference():
    table = paper_results().set_index(["task", "dataset", "model", "representation", "probe"])
    assert table.loc[("lentimpra", "HepG2", "one-hot", "onehot", "resnet"), "value"] == 0.753
    assert table.loc[("cagi5", "PKLR", "Sei", "L1 distance", "zero-shot"), "value"] == 0.682
    lenti = paper_results().query("task == 'lentimpra' and dataset == 'HepG2'")
    best_onehot = lenti[lenti.model == "one-hot"].value.max()
    best_glm = lenti[~lenti.model.isin(["one-hot", "Sei"])].value.max()
    assert best_onehot > best_glm  # the paper's conclusion, as recorded
