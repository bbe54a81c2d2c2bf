import pytest

from operators.config import Config


def test_invalid_values_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown dtype 'fp8'"):
        Config(dtype="fp8")
    with pytest.raises(ValueError, match="unknown mode"):
        Config(mode="bwd")


def test_problem_explains_bad_shapes():
    assert Config(d_model=10, heads=4).problem() == "d_model 10 is not divisible by heads 4"
    assert Config(order=1).problem().startswith("Hyena order must be >= 2")
    assert Config().problem() is None
    assert Config(d_model=768, heads=12).head_dim == 64
