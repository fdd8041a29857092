"""Edge operators (Grover & Leskovec 2016, Table 1) on a 2 x 2 case checked by hand."""

import numpy as np
import pytest

from matchchoose import InputError
from matchchoose.graph import EDGE_OPERATORS, edge_embedding

U = np.array([[1.0, 2.0], [3.0, 4.0]])
V = np.array([[5.0, -1.0], [0.0, 2.0]])


@pytest.mark.parametrize(("operator", "expected"), [
    ("hadamard", [[5.0, -2.0], [0.0, 8.0]]),
    ("average", [[3.0, 0.5], [1.5, 3.0]]),
    ("l1", [[4.0, 3.0], [3.0, 2.0]]),
    ("l2", [[16.0, 9.0], [9.0, 4.0]]),
    ("concat", [[1.0, 2.0, 5.0, -1.0], [3.0, 4.0, 0.0, 2.0]]),
])
def test_operator_values(operator, expected):
    out = edge_embedding(U, V, operator)
    assert out.dtype == np.float64
    assert out.tolist() == expected


def test_registry_and_default():
    assert EDGE_OPERATORS == ("hadamard", "average", "l1", "l2", "concat")
    assert edge_embedding(U, V).tolist() == edge_embedding(U, V, "hadamard").tolist()
    # Integer and list inputs are accepted as floats.
    assert edge_embedding([[1, 2]], [[3, 5]], "l1").tolist() == [[2.0, 3.0]]


def test_unknown_operator_lists_choices():
    with pytest.raises(InputError, match=r"'operator' parameter of edge_embedding must be one of "
                                         r"\['average', 'concat', 'hadamard', 'l1', 'l2'\]. Got 'sum' instead."):
        edge_embedding(U, V, "sum")
