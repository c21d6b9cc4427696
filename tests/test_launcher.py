"""The command's entry point adds glibc's huge-page tunable once and re-executes itself."""

import sys

import pytest

from motiongpt_jax import launcher


def test_tuned_environ_appends_to_existing_tunables():
  assert launcher.tuned_environ({})["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"
  env = launcher.tuned_environ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "X": "1"})
  assert env == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1", "X": "1"}
  kept = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}  # a user's own choice stays
  assert launcher.tuned_environ(kept) == kept


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_main_reexecutes_once_with_the_tunable(monkeypatch):
  calls = []

  def fake_execve(path, argv, env):
    calls.append((path, argv, env))
    raise SystemExit(0)

  monkeypatch.setattr(launcher.os, "execve", fake_execve)
  monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
  monkeypatch.delenv("MOTIONGPT_MALLOC", raising=False)
  monkeypatch.setattr(sys, "argv", ["motiongpt", "eval", "--workdir", "w"])
  with pytest.raises(SystemExit):
    launcher.main()
  (path, argv, env), = calls
  assert path == sys.executable
  assert argv == [sys.executable, "-m", "motiongpt_jax.cli", "eval", "--workdir", "w"]
  assert env["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1" and env["MOTIONGPT_MALLOC"] == "keep"
