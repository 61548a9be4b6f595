"""Stages run in bubblewrap: a stage's process tree sees its workspace and the system, not us.

A stage is hostile code (DESIGN.md, Runtimes). Every stage process is started as

    bwrap --unshare-all --share-net --die-with-parent --new-session --cap-drop ALL
          --unshare-user --disable-userns
          --ro-bind /usr /usr  --symlink usr/bin /bin …  --ro-bind-try /etc/<what programs need> …
          --proc /proc --dev /dev --tmpfs /tmp --dir /home/aqm
          --ro-bind <each PATH folder, its venv, our interpreter> …
          --bind <workspace> <workspace> --chdir <workspace>
          --ro-bind-data <fd> /run/aqm/<file> …          -- <argv>

with the stage's own allowlisted environment (HOME=/home/aqm, TMPDIR=/tmp): bwrap's own pid 1
inside the namespace keeps the environment bwrap was started with, so bwrap itself starts clean
(`--clearenv` alone leaked ours). What the stage cannot reach, and why:

- our environment and memory: a new pid namespace (`/proc` shows the stage's processes only)
  and no capabilities (`--cap-drop ALL`, though it runs as our uid), in a user namespace of its
  own that cannot make another (`--disable-userns`, where the host allows user namespaces);
- the database, data folder, other tasks' workspaces, HOME, `/root`, the rest of `/etc`: not
  mounted. Only the workspace is writable; a data folder inside it (local `aqm run`) is covered by
  an empty tmpfs. A folder on PATH that holds the data folder or HOME is never mounted whole;
- files given by path (MCP config, output schema, input): copied by bwrap from an anonymous
  memfd into the sandbox (`--ro-bind-data`), so nothing is left on disk when the worker is killed;
- outliving its worker: `--die-with-parent` (PR_SET_PDEATHSIG) on bwrap, and the kernel kills a
  pid namespace with its pid 1; killing bwrap's process group on timeout does the same.

The network namespace is shared on purpose: the LLM CLIs call their APIs. So a stage reaches
what this machine's network reaches (127.0.0.1 and abstract unix sockets included): PostgreSQL and
Redis must require credentials, which a stage never sees.

Folders the stage sees besides the system: those on this process's PATH (read-only; for
`<venv>/bin` the venv and its base interpreter, for a link into an npm package the
node_modules folder holding it and its dependencies), our
own interpreter, and, as a test hook only, the folders of absolute FAKE_CLI_* paths (the fake
CLIs' script and log, writable). None of it may hold the data folder, HOME, /tmp, /home or /var
whole, nor lie under /etc, /proc, /sys, /dev, /run or /boot. `aqm run --sandbox` (`logins`)
also binds the CLIs' logins in HOME (~/.claude, ~/.claude.json, ~/.gemini, ~/.codex) writable.

Not here: a separate user (the stage runs as our uid, in a user namespace, without capabilities;
run the worker itself as an unprivileged user for that layer), limits on memory, processes or
disk (a stage can exhaust the machine), and a network namespace (see above).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.errors import ConfigError
from app.runtimes.process import Launch, Stage

BWRAP = "bwrap"
OPT_OUT_VARIABLE = "AQM_UNSAFE_UNSANDBOXED_STAGES"
INSTALL_HINT = "apt-get install -y bubblewrap"
SANDBOX_HOME = Path("/home/aqm")  # the stage's HOME: an empty folder of its own
FILES_DIR = Path("/run/aqm")  # where the stage's files (`Stage.file`) appear
SANDBOX_TMP = "/tmp"  # noqa: S108 - the sandbox's own empty tmpfs, not the host's /tmp
ISOLATION_FLAGS = ("--unshare-all", "--share-net", "--die-with-parent", "--new-session", "--cap-drop", "ALL")
# and where user namespaces may be created: no nested one inside (a kernel attack surface the stage
# has no use for); without them (a setuid bwrap on a host that forbids them) the above alone
NO_USERNS_FLAGS = ("--unshare-user", "--disable-userns")
SYSTEM_DIRS = ("/usr",)
# never bound from PATH or a variable, nor anything inside: the kernel's and the system's own state
NEVER_INSIDE = tuple(Path(name) for name in ("/etc", "/proc", "/sys", "/dev", "/run", "/boot"))
# never bound whole (only folders inside them): shared by every user and process of the host
NEVER_WHOLE = (Path(tempfile.gettempdir()), Path("/tmp"), Path("/home"), Path("/var"))  # noqa: S108
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # usr-merged: links, else folders
ETC_ENTRIES = (  # name resolution, users, certificates, time, the dynamic linker: nothing secret
    *("resolv.conf", "hosts", "host.conf", "gai.conf", "nsswitch.conf", "protocols", "services"),
    *("passwd", "group", "localtime", "timezone", "mime.types", "os-release", "debian_version"),
    *("ssl", "ca-certificates", "ca-certificates.conf", "pki", "alternatives"),
    *("ld.so.cache", "ld.so.conf", "ld.so.conf.d"),
)
HOME_VARIABLES = ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")  # host paths
LOGIN_ENTRIES = (".claude", ".claude.json", ".gemini", ".codex")  # the CLIs' logins under HOME
LOGIN_DIR_VARIABLES = ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_CLI_HOME")
TEST_HOOK_PREFIX = "FAKE_CLI_"  # the fake CLIs' script and log (tests/fakes): their folders, writable
PROBE_TIMEOUT_S = 10.0
log = logging.getLogger("aqm.runtimes")


@dataclass(frozen=True, slots=True)
class Binds:
    """The folders of this process's environment that stages see (see `binds_for`)."""

    read_only: tuple[Path, ...] = ()  # the folders on PATH, venvs, our interpreter
    writable: tuple[Path, ...] = ()  # the test hook's folders; local logins set by variable
    home: tuple[tuple[Path, str], ...] = ()  # host path -> name under SANDBOX_HOME (local logins)


@dataclass(frozen=True, slots=True)
class Sandbox:
    """The launcher of sandboxed stages; built once at start-up by `Sandbox.build`.

    What it binds comes from this process's own environment (`environ`, default: os.environ as it
    is at each launch), never from a stage's: a pipeline's `env: {PATH: /}` changes where the
    stage looks for programs, not what it can see."""

    bwrap: str
    hidden: tuple[Path, ...] = ()  # the data folder: never bound, covered inside a workspace
    logins: bool = False  # local `aqm run --sandbox`: the CLIs' logins are bound in
    environ: Mapping[str, str] | None = None
    flags: tuple[str, ...] = (*ISOLATION_FLAGS, *NO_USERNS_FLAGS)

    @classmethod
    def build(
        cls, *, hidden: Sequence[Path], environ: Mapping[str, str] | None = None, logins: bool = False
    ) -> Sandbox:
        """The sandbox for this machine, or ConfigError saying how to get one (or opt out)."""
        path = (os.environ if environ is None else environ).get("PATH", os.defpath)
        bwrap = shutil.which(BWRAP, path=path)
        if bwrap is None:
            raise unavailable(f"{BWRAP} (bubblewrap) is not installed: {INSTALL_HINT}")
        hidden = tuple(p.resolve() for p in hidden)
        if probe(bwrap, (*ISOLATION_FLAGS, *NO_USERNS_FLAGS)) is None:
            return cls(bwrap, hidden, logins, environ)
        if (reason := probe(bwrap, ISOLATION_FLAGS)) is not None:
            raise unavailable(f"{bwrap} cannot create a sandbox here: {reason}")
        log.warning("%s cannot create user namespaces here: stages may create their own", bwrap)
        return cls(bwrap, hidden, logins, environ, flags=ISOLATION_FLAGS)

    @contextlib.contextmanager
    def stage(self) -> Iterator[Stage]:
        stage = SandboxedStage(self)
        try:
            yield stage
        finally:
            stage.close()

    def binds(self) -> Binds:
        environ = os.environ if self.environ is None else self.environ
        names = ("PATH", "HOME", *LOGIN_DIR_VARIABLES)
        key = tuple(
            sorted((k, v) for k, v in environ.items() if k in names or k.startswith(TEST_HOOK_PREFIX))
        )
        return binds_for(key, self.hidden, logins=self.logins)

    def mounts(self) -> list[str]:
        """Every mount but the workspace's and the stage's files, in the order bwrap applies them."""
        binds = self.binds()
        words = [*system_mounts(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", SANDBOX_TMP]
        words += ["--dir", str(SANDBOX_HOME)]
        for path in binds.read_only:
            words += ["--ro-bind", str(path), str(path)]
        for path in binds.writable:
            words += ["--bind", str(path), str(path)]
        for source, name in binds.home:
            words += ["--bind-try", str(source), str(SANDBOX_HOME / name)]
        return words


@functools.lru_cache(maxsize=16)
def binds_for(environ: tuple[tuple[str, str], ...], hidden: tuple[Path, ...], *, logins: bool) -> Binds:
    """What stages see of an environment (its PATH, HOME, FAKE_CLI_* and login variables): cached,
    as the environment rarely changes and the folders on PATH are read to find their links."""
    variables = dict(environ)
    home = Path(variables.get("HOME") or "/root").expanduser().resolve()
    never_whole = (*hidden, home, *NEVER_WHOLE)
    writable = list(test_hook_folders(variables))
    if logins:
        writable += (Path(variables[name]) for name in LOGIN_DIR_VARIABLES if variables.get(name))
    return Binds(
        read_only=mountable(read_only_candidates(variables), never_whole, hidden),
        writable=mountable(writable, never_whole, hidden),
        home=login_entries(home) if logins else (),
    )


def probe(bwrap: str, flags: Sequence[str]) -> str | None:
    """Start `true` in an empty sandbox: None when it ran, else why not (namespaces refused...)."""
    argv = [bwrap, *flags, *system_mounts(), "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, env={}, timeout=PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else done.stderr.decode("utf-8", errors="replace").strip()[-500:]


def unavailable(reason: str) -> ConfigError:
    return ConfigError(
        f"stages must run sandboxed, but {reason}. To run them unsandboxed anyway, with the "
        f"orchestrator's secrets, database and files readable by every stage, set {OPT_OUT_VARIABLE}=1",
        variable=OPT_OUT_VARIABLE,
    )


def system_mounts() -> list[str]:
    """/usr and the links into it, and the parts of /etc that programs read, all read-only."""
    words: list[str] = []
    for name in SYSTEM_DIRS:
        words += ["--ro-bind", name, name]
    for name in SYSTEM_LINKS:
        path = Path(name)
        if path.is_symlink():
            words += ["--symlink", str(path.readlink()), name]
        elif path.is_dir():
            words += ["--ro-bind", name, name]
    for name in ETC_ENTRIES:
        words += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return words


def read_only_candidates(environ: Mapping[str, str]) -> Iterator[Path]:
    """The folders on PATH, and the folders their links lead to (an npm prefix's `bin/claude` is a
    link into its package); for `<venv>/bin`, the venv and its base interpreter; our interpreter."""
    for entry in environ.get("PATH", "").split(os.pathsep):
        folder = Path(entry)
        if not folder.is_absolute() or not folder.is_dir():
            continue
        yield folder
        yield from venv_of(folder.parent)
        if not any(folder.resolve().is_relative_to(system) for system in SYSTEM_DIRS):
            yield from link_targets(folder)
    yield from (Path(sys.prefix), Path(sys.base_prefix))


def link_targets(folder: Path) -> Iterator[Path]:
    """Where each symbolic link in `folder` leads, when that is another folder: the file's folder,
    or for a file inside an npm package (`bin/gemini -> ../lib/node_modules/@google/gemini-cli/
    dist/index.js`), the node_modules folder holding it and its dependencies."""
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_symlink():
                target = package_root(Path(entry.path).resolve())
                if target != folder.resolve():
                    yield target


def package_root(target: Path) -> Path:
    """The `node_modules` folder holding the npm package of `target`, else `target`'s folder.

    The whole folder, not the package alone: npm installs a package's dependencies beside it, and
    codex's and claude's native binaries are such dependencies (`@openai/codex-linux-x64`)."""
    parts = target.parts
    if "node_modules" not in parts[:-1]:
        return target.parent
    start = len(parts) - 1 - parts[::-1].index("node_modules")  # the innermost node_modules
    return Path(*parts[: start + 1])


def venv_of(root: Path) -> Iterator[Path]:
    """`root` and its base interpreter's prefix when `root` is a venv (it has a pyvenv.cfg)."""
    try:
        lines = (root / "pyvenv.cfg").read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    yield root
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            yield Path(value.strip()).parent  # home is the base interpreter's bin folder


def test_hook_folders(environ: Mapping[str, str]) -> Iterator[Path]:
    """The folders of the fake CLIs' script and log (absolute FAKE_CLI_* paths): tests only."""
    for name, value in environ.items():
        if name.startswith(TEST_HOOK_PREFIX) and Path(value).is_absolute():
            yield Path(value).parent


def login_entries(home: Path) -> tuple[tuple[Path, str], ...]:
    """The CLIs' login files and folders in HOME that exist (local `aqm run --sandbox` only)."""
    return tuple((home / name, name) for name in LOGIN_ENTRIES if (home / name).exists())


def mountable(
    candidates: Iterable[Path], never_whole: Sequence[Path], hidden: Sequence[Path]
) -> tuple[Path, ...]:
    """The candidates that exist, resolved, without duplicates, minus /usr (bound anyway), any folder
    that is or holds one of `never_whole` (the data folder, HOME, /tmp...: `/` included), and
    anything inside `hidden` or NEVER_INSIDE (/etc, /proc...)."""
    kept: list[Path] = []
    for candidate in candidates:
        with contextlib.suppress(OSError):
            path = candidate.resolve(strict=True)
            if path in kept or any(path.is_relative_to(system) for system in SYSTEM_DIRS):
                continue
            if any(path == other or other.is_relative_to(path) for other in never_whole):
                continue
            if not any(path.is_relative_to(other) for other in (*hidden, *NEVER_INSIDE)):
                kept.append(path)
    return tuple(kept)


@dataclass(slots=True)
class SandboxedStage:
    """One sandboxed run: its files as memfds that bwrap copies in, then the bwrap command line."""

    sandbox: Sandbox
    files: list[tuple[int, Path]] = field(default_factory=list)
    links: list[tuple[Path, Path]] = field(default_factory=list)

    def file(self, name: str, text: str) -> Path:
        fd = os.memfd_create(f"aqm-{Path(name).name}", os.MFD_CLOEXEC)
        os.write(fd, text.encode("utf-8"))
        self.files.append((fd, FILES_DIR / name))
        return FILES_DIR / name

    def link(self, name: str, source: Path) -> Path:
        self.links.append((source, FILES_DIR / name))
        return FILES_DIR / name

    def launch(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> Launch:
        if not executable_found(argv[0], cwd=cwd, path=env.get("PATH", "")):
            raise FileNotFoundError(argv[0])
        words = [self.sandbox.bwrap, *self.sandbox.flags, *self.sandbox.mounts(), *self.workspace(cwd)]
        for fd, dest in self.files:
            os.lseek(fd, 0, os.SEEK_SET)  # bwrap reads from the current offset, shared with us
            words += ["--ro-bind-data", str(fd), str(dest)]
        for source, dest in self.links:
            words += ["--ro-bind-try", str(source), str(dest)]
        return Launch((*words, "--", *argv), stage_env(env), tuple(fd for fd, _ in self.files))

    def workspace(self, cwd: Path) -> list[str]:
        """The workspace, writable, with any data folder inside it covered by an empty tmpfs."""
        workspace = cwd.resolve()
        words = ["--bind", str(workspace), str(workspace)]
        for hidden in self.sandbox.hidden:
            if hidden.is_relative_to(workspace) and hidden.is_dir():
                words += ["--tmpfs", str(hidden)]
        return [*words, "--chdir", str(workspace)]

    def close(self) -> None:
        for fd, _ in self.files:
            os.close(fd)
        self.files.clear()


def executable_found(command: str, *, cwd: Path, path: str) -> bool:
    """Whether exec would find `command` (a name on PATH, or a path from `cwd`)."""
    if os.sep in command:
        return os.access(cwd / command, os.X_OK)
    return shutil.which(command, path=path) is not None


def stage_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with HOME and TMPDIR inside the sandbox, and no XDG folder of ours."""
    inside = {name: value for name, value in env.items() if name not in HOME_VARIABLES}
    return {**inside, "HOME": str(SANDBOX_HOME), "TMPDIR": SANDBOX_TMP}
