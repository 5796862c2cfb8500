"""`make check-layers` is the guard of DESIGN.md's layering: it must pass
on the tree and fail, naming the file, when a lower layer includes a
higher one."""
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "check-layers.sh"


def run(cwd):
    return subprocess.run(["sh", str(SCRIPT)], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_the_tree_keeps_its_layers():
    r = run(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_lower_layer_including_a_higher_one_fails(workdir):
    for layer in ("lib", "policy", "queue", "conf", "relay"):
        src = ROOT / layer
        if src.is_dir():
            shutil.copytree(src, workdir / layer)
        else:
            (workdir / layer).mkdir()
    (workdir / "queue" / "bad.c").write_text('#include "../policy/x.h"\n')
    (workdir / "lib" / "worse.h").write_text('#include "relay/smtp.h"\n')
    r = run(workdir)
    assert r.returncode == 1, r.stdout
    assert "queue/bad.c: includes ../policy/x.h: queue may not include policy" in r.stdout
    assert "lib/worse.h: includes relay/smtp.h: lib may not include relay" in r.stdout
