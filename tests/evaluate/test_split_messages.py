"""Leave-one-dataset-out refuses impossible requests with messages that name the CLI option and the data."""

from __future__ import annotations

import pandas as pd
import pytest

from matchchoose import InputError, Metric, ZooRecords
from matchchoose.evaluate import iter_folds


def _records(datasets):
    rows = [(m, d, float(i + j)) for i, d in enumerate(datasets) for j, m in enumerate("ab")]
    return ZooRecords(pd.DataFrame(rows, columns=["model", "dataset", "value"]), Metric("fid", False))


@pytest.mark.parametrize(("datasets", "have"), [(["x"], "only 'x'"), ([], "none")])
def test_fewer_than_two_datasets_says_so(datasets, have):
    with pytest.raises(InputError, match=rf"needs 'fid' results on at least 2 datasets .* they cover {have}: "
                                         "record results on more datasets, or use another --metric"):
        list(iter_folds(_records(datasets)))


def test_unknown_held_out_dataset_names_the_option_and_lists_the_choices():
    with pytest.raises(InputError, match=r"^--datasets \(datasets\) names unknown dataset\(s\) \['z'\]; datasets "
                                         r"with results: x, y\.$"):
        list(iter_folds(_records(["x", "y"]), datasets=["z"]))


def test_cli_evaluate_on_one_dataset_is_one_line(tmp_path, mnc):
    (tmp_path / "r.csv").write_text("model,dataset,metric,value\na,x,fid,3\nb,x,fid,4\n")
    kb = tmp_path / "kb.sqlite"
    assert mnc("kb", "import", tmp_path / "r.csv", "--kind", "results", "--kb", kb)[0] == 0
    code, _, err = mnc("evaluate", "--kb", kb, "--metric", "fid")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "they cover only 'x'" in err and "has none" not in err
