"""Several processes importing into one knowledge base at once lose nothing."""

from __future__ import annotations

import multiprocessing

import pytest

from matchchoose.kb import KnowledgeBase, import_table, latest_version

N_WRITERS = 6
N_ROWS = 300


def _import(args):
    kb_path, csv_path = args
    with KnowledgeBase(kb_path) as kb:
        return import_table(kb, csv_path, "results").inserted


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method")
def test_parallel_imports_keep_every_row(tmp_path):
    kb_path = tmp_path / "kb.sqlite"
    files = []
    for w in range(N_WRITERS):
        path = tmp_path / f"results-{w}.csv"
        # Shared model and dataset names: writers race to create the same rows of 'models'/'datasets'.
        lines = ["model,dataset,metric,value,writer"]
        lines += [f"m{i % 7},d{i % 5},accuracy,{i / N_ROWS},{w}-{i}" for i in range(N_ROWS)]
        path.write_text("\n".join(lines) + "\n")
        files.append(path)
    # The file does not exist yet: the writers also race to create the schema.
    with multiprocessing.get_context("fork").Pool(N_WRITERS) as pool:
        inserted = pool.map(_import, [(kb_path, path) for path in files])
    assert inserted == [N_ROWS] * N_WRITERS
    kb = KnowledgeBase(kb_path)
    assert kb.summary()["results"] == {"accuracy": N_WRITERS * N_ROWS}
    assert kb.models() == [f"m{i}" for i in range(7)] and len(kb.datasets()) == 5
    assert kb.schema_version == latest_version()
