"""A stand-in for absl's FlagValues, as the nst_cli modes read it."""

import types


class FakeFlags(dict):
    """``name in fv``, ``fv[name].value`` and ``fv[name].present``; every value given counts
    as given on the command line."""

    def __init__(self, **values):
        super().__init__({k: types.SimpleNamespace(value=v, present=1) for k, v in values.items()})

    def flag_values_dict(self):
        return {k: v.value for k, v in self.items()}
