"""Guards pclab/localcloud/moto/_patching.py: every patch has a row, and patches act only while a
local cloud runs."""

from __future__ import annotations

from localcloud.cloud_helpers import Cloud
from localcloud.moto.guard import all_patched_signatures
from pclab.localcloud import moto as moto_ext
from pclab.localcloud.moto import _patching


def test_every_patch_has_a_row_here(cloud: Cloud) -> None:
    """Rows are in the guard module of the package module that makes the patch."""
    assert sorted(set(moto_ext.PATCHED)) == sorted(all_patched_signatures())


def test_patches_act_only_while_a_local_cloud_runs() -> None:
    calls: list[str] = []
    dispatch = _patching._dispatcher(lambda: calls.append("moto"), lambda: calls.append("ours"))
    with _patching._install_lock:
        before = _patching._installed.get("active")
    try:
        _patching._installed["active"] = True
        dispatch()
        moto_ext.deactivate()
        dispatch()
    finally:
        _patching._installed["active"] = before
    assert calls == ["ours", "moto"]
