"""Checks the public API of nst.losses: exports, docstrings and signature rules.

Pattern: dm_pix's api_test. Each public function must be documented (Args/Returns and a
reference or formula), keep options keyword-only, annotate array inputs as
``jax.typing.ArrayLike``, and be exercised by a test in tests/losses/.
"""

import doctest
import inspect
import pathlib
import typing

import jax
from absl.testing import absltest, parameterized

import nst.losses
from nst import losses

_PUBLIC = tuple((name, getattr(losses, name)) for name in losses.__all__)

# Leading parameters that hold data (arrays, mappings of arrays) rather than options.
_DATA_PARAMETERS = {
    "d", "F", "P", "A", "x", "frame", "previous", "image", "output", "laplacian", "L",
    "features", "target_grams", "layer_weights", "terms", "weights",
    "mask", "masks", "target_mean", "target_cov", "patches", "size",
}  # fmt: skip
# Data parameters with a default, which the signatures allow positionally.
_OPTIONAL_DATA = {("temporal_loss", "mask")}
# Host-side / container-typed functions whose array inputs are not ArrayLike.
_NOT_ARRAYLIKE = {("laplacian_to_bcoo", "L"), ("photorealism_loss", "laplacian")}
_ARRAY_PARAMETERS = _DATA_PARAMETERS - {"layer_weights", "weights", "size"} | {"target_cov_sqrt"}
# Host-side NumPy/SciPy helpers: they return SciPy/BCOO matrices, not jax.Array.
_HOST_SIDE = {"matting_laplacian", "laplacian_to_bcoo"}
_TESTS_DIR = pathlib.Path(__file__).parent / "losses"


def _mentions_arraylike(hint: object) -> bool:
    """Whether ``hint`` is ``ArrayLike`` or contains it (``ArrayLike | None``, ``Mapping``)."""
    if hint == jax.typing.ArrayLike:
        return True
    args = typing.get_args(hint)
    if set(typing.get_args(jax.typing.ArrayLike)) <= set(args):
        return True
    return any(_mentions_arraylike(a) for a in args)


class ApiTest(parameterized.TestCase):
    def test_all_is_sorted_unique_and_complete(self):
        self.assertEqual(list(losses.__all__), sorted(set(losses.__all__)))
        public_functions = {
            name
            for name, value in vars(losses).items()
            if not name.startswith("_") and inspect.isfunction(value)
        }
        self.assertEqual(public_functions, set(losses.__all__))

    @parameterized.named_parameters(*_PUBLIC)
    def test_documented(self, fn):
        self.assertTrue(callable(fn))
        doc = inspect.getdoc(fn) or ""
        for section in ("Args:", "Returns:"):
            self.assertIn(section, doc)
        for name in inspect.signature(fn).parameters:
            self.assertRegex(doc, rf"\n  {name}: ", f"parameter {name} is not documented")

    @parameterized.named_parameters(*_PUBLIC)
    def test_options_are_keyword_only(self, fn):
        for param in inspect.signature(fn).parameters.values():
            self.assertNotIn(param.kind, (param.VAR_POSITIONAL, param.VAR_KEYWORD), param.name)
            self.assertNotEqual(param.kind, param.POSITIONAL_ONLY, param.name)
            if param.name in _DATA_PARAMETERS or (fn.__name__, param.name) in _OPTIONAL_DATA:
                self.assertEqual(param.kind, param.POSITIONAL_OR_KEYWORD, param.name)
            else:
                self.assertEqual(param.kind, param.KEYWORD_ONLY, f"option {param.name}")
                self.assertIsNot(param.default, param.empty, f"option {param.name}")

    @parameterized.named_parameters(*_PUBLIC)
    def test_annotations(self, fn):
        hints = typing.get_type_hints(fn)
        for name in inspect.signature(fn).parameters:
            self.assertIn(name, hints, f"{name} is not annotated")
            if name in _ARRAY_PARAMETERS and (fn.__name__, name) not in _NOT_ARRAYLIKE:
                self.assertTrue(_mentions_arraylike(hints[name]), f"{name}: {hints[name]}")
        self.assertIn("return", hints)
        if fn.__name__ not in _HOST_SIDE:
            self.assertIn("jax.Array", str(hints["return"]))

    @parameterized.named_parameters(*_PUBLIC)
    def test_has_a_test(self, fn):
        sources = "\n".join(p.read_text() for p in sorted(_TESTS_DIR.glob("*_test.py")))
        self.assertIn(f"losses.{fn.__name__}(", sources)

    def test_docstring_examples(self):
        modules = {inspect.getmodule(fn) for _, fn in _PUBLIC}
        finder = doctest.DocTestFinder()
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        examples = 0
        for module in sorted(modules, key=lambda m: m.__name__):
            for test in finder.find(module, globs=dict(vars(module))):
                examples += len(test.examples)
                runner.run(test)
        self.assertGreater(examples, 0)
        self.assertEqual(runner.summarize(verbose=False).failed, 0)

    def test_module_doc_and_no_import_side_effects(self):
        self.assertFalse(jax.config.jax_enable_x64)
        self.assertIn("NHWC", nst.losses.__doc__)


if __name__ == "__main__":
    absltest.main()
