"""`torchrun`, runnable where the installed one is broken: `python3 scripts/torch/torchrun.py ARGS`
takes exactly torchrun's arguments (python3 -m torch.distributed.run).

PyTorch 1.13 (Debian's python3-torch) on Python 3.11 fails at start with
"AttributeError: 'NoneType' object has no attribute 'get'": its Std.from_str looks values up by
iterating the Std flag enum, and Python 3.11 no longer yields the zero flag (NONE) or the
combined one (ALL), so the default --redirects 0 / --tee 0 become None. This shim parses those two
arguments by value (Std(0) is NONE) and then runs torchrun's own main(). Where from_str works
(PyTorch >= 2.0, or older Pythons), it changes nothing.
"""

import re
import sys

from torch.distributed.elastic.multiprocessing import api as _api


def _from_str(vm):
    if re.match(_api._VALUE_REGEX, vm):
        return _api.Std(int(vm))
    if re.match(_api._MAPPING_REGEX, vm):
        return {int(k): _api.Std(int(v)) for k, v in (kv.split(":") for kv in vm.split(","))}
    raise ValueError(f"{vm} does not match: <{_api._VALUE_REGEX}> or <{_api._MAPPING_REGEX}>")


if _api.Std.from_str("0") is None:
    _api.Std.from_str = staticmethod(_from_str)

if __name__ == "__main__":
    from torch.distributed.run import main

    sys.exit(main())
