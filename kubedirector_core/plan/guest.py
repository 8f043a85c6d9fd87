"""The in-container side of member actions: one POSIX ``sh`` script.

Every :class:`~kubedirector_core.plan.model.MemberAction` the planner emits
runs ``("sh", "-c", GUEST_SCRIPT, "kd-guest", MODE, KEY, *ARGS)`` in the
member's app container, with its data on stdin. Modes:

``configure KEY``
    write the files given on stdin (configmeta.json, plugin files), fetch
    the file injections, fetch and unpack the setup package into
    ``/opt/guestconfig`` and run its ``startscript --configure`` (unless the
    role's eventList leaves ``configure`` out). Without a setup package only
    the files are written.
``notify KEY ARG...``
    write the files given on stdin (the current configmeta.json), then run
    ``startscript ARG...`` (``--addnodes|--delnodes --nodegroup 1 --role R
    --fqdns a,b`` or ``--reconnect``), as the original does.
``exec KEY COMMAND [CHECK]``
    a plugin's action: run the shell command COMMAND once (recorded by KEY
    when it succeeds, or once it ran at all when there is a CHECK), then,
    with a CHECK, run that shell command every time and exit with its status.
    Reads no stdin.

Exactly once: on success the script creates ``/etc/guestconfig/.kd-done/KEY``
and, when that file already exists, skips the work (still writing the
files, which are idempotent) and exits 0. ``/etc`` is on the member's
volume when the role has storage, so a restarted container finds its done
keys there and setup is not run again; without storage it is.

Paths: every absolute path is resolved under ``${KD_GUEST_ROOT:-}`` (unset
in real containers, meaning ``/``). The startscript gets ``KD_GUEST_ROOT``
in its environment to find configmeta the same way. A ``file://`` package
URL is read from under the guest root when it exists there, else from the
path as given (only reading; nothing is written outside the root).

stdin is a small shell program of calls to ``kd_file``, ``kd_package``,
``kd_configure`` and ``kd_inject`` with file contents in quoted here-documents
(no expansion), built by :func:`guest_input`; nothing sensitive is on the
command line. The script reads it twice: once writing files, once (when the
key is not done yet) fetching injections. The runtime must close stdin
after writing it (``configure`` and ``notify`` read it to the end).

Exit statuses: the startscript's or the command's own; 64 bad usage; 65 a
download or unpack failed; 66 the setup package has no startscript.
Hangs are bounded by the action's timeout, enforced by the runtime.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

#: Where the done keys live, under the guest root.
DONE_DIR: Final = "/etc/guestconfig/.kd-done"
CONFIGMETA_PATH: Final = "/etc/guestconfig/configmeta.json"
SETUP_DIR: Final = "/opt/guestconfig"
#: argv[0] of the script, shown in ``ps`` and error messages.
ARGV0: Final = "kd-guest"

EXIT_USAGE: Final = 64
EXIT_FETCH: Final = 65
EXIT_NO_STARTSCRIPT: Final = 66

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")

GUEST_SCRIPT: Final = r"""
set -u
ROOT="${KD_GUEST_ROOT:-}"
ROOT="${ROOT%/}"
GC="$ROOT/etc/guestconfig"
DONE="$ROOT/etc/guestconfig/.kd-done"
SETUP="$ROOT/opt/guestconfig"
KD_PHASE=files
KD_PACKAGE_URL=
KD_RUN_CONFIGURE=yes
kd_log() { printf 'kd-guest: %s\n' "$*" >&2; }
kd_die() { code=$1; shift; kd_log "$*"; exit "$code"; }
kd_abs() {
  case "$1" in
    /*) printf '%s%s' "$ROOT" "$1" ;;
    *) kd_die 64 "not an absolute path: $1" ;;
  esac
}
kd_file() {
  if [ "$KD_PHASE" != files ]; then cat >/dev/null; return 0; fi
  kd_dest=$(kd_abs "$2")
  mkdir -p "${kd_dest%/*}" || kd_die 73 "cannot create the directory of $2"
  kd_body=$(cat; printf x)
  kd_body=${kd_body%x}
  kd_body=${kd_body%?}
  printf '%s' "$kd_body" >"$kd_dest.kd-tmp" || kd_die 73 "cannot write $2"
  chmod "$1" "$kd_dest.kd-tmp" && mv -f "$kd_dest.kd-tmp" "$kd_dest" || kd_die 73 "cannot write $2"
}
kd_package() { KD_PACKAGE_URL=$1; }
kd_configure() { KD_RUN_CONFIGURE=$1; }
kd_fetch() {
  case "$1" in
    file://*)
      kd_src=${1#file://}
      if [ -e "$ROOT$kd_src" ]; then kd_src="$ROOT$kd_src"; fi
      cp "$kd_src" "$2" ;;
    http://*|https://*)
      if command -v curl >/dev/null 2>&1; then curl -fsSL -o "$2" "$1"
      elif command -v wget >/dev/null 2>&1; then wget -q -O "$2" "$1"
      elif command -v python3 >/dev/null 2>&1; then
        python3 -c 'import sys, urllib.request as u; u.urlretrieve(sys.argv[1], sys.argv[2])' \
          "$1" "$2"
      else kd_log "no curl, wget or python3 to fetch $1"; return 1
      fi ;;
    *) kd_log "unsupported URL: $1"; return 1 ;;
  esac
}
kd_inject() {
  [ "$KD_PHASE" = setup ] || return 0
  kd_dir=$(kd_abs "$2")
  kd_target="$kd_dir/${1##*/}"
  mkdir -p "$kd_dir" && kd_fetch "$1" "$kd_target" || kd_die 65 "cannot fetch file injection $1"
  if [ -n "$3" ]; then chmod "$3" "$kd_target" || kd_die 65 "cannot chmod $kd_target"; fi
  if [ -n "$4" ]; then chown "$4" "$kd_target" || kd_die 65 "cannot chown $kd_target"; fi
  if [ -n "$5" ]; then chgrp "$5" "$kd_target" || kd_die 65 "cannot chgrp $kd_target"; fi
}
kd_startscript() {
  for kd_s in "$SETUP"/*/startscript "$SETUP"/startscript; do
    if [ -f "$kd_s" ]; then chmod u+x "$kd_s"; printf '%s' "$kd_s"; return 0; fi
  done
  return 1
}
kd_install_package() {
  mkdir -p "$SETUP" && chmod 700 "$SETUP" || kd_die 65 "cannot create $SETUP"
  rm -rf "$SETUP"/* || kd_die 65 "cannot empty $SETUP"
  kd_fetch "$KD_PACKAGE_URL" "$SETUP/appconfig.tgz" ||
    kd_die 65 "cannot fetch setup package $KD_PACKAGE_URL"
  (cd "$SETUP" && tar xzf appconfig.tgz) || kd_die 65 "cannot unpack setup package $KD_PACKAGE_URL"
  rm -f "$SETUP/appconfig.tgz"
  kd_startscript >/dev/null || kd_die 66 "setup package $KD_PACKAGE_URL has no startscript"
}
[ $# -ge 2 ] || kd_die 64 "usage: kd-guest configure|notify|exec KEY ..."
KD_MODE=$1
KD_KEY=$2
shift 2
case "$KD_KEY" in ''|.*|*[!A-Za-z0-9._-]*) kd_die 64 "bad key: $KD_KEY" ;; esac
export KD_GUEST_ROOT="$ROOT"
mkdir -p "$DONE" || kd_die 73 "cannot create $DONE"
if [ "$KD_MODE" = exec ]; then
  [ $# -ge 1 ] || kd_die 64 "exec needs a command"
  KD_CHECK=${2:-}
  if [ ! -f "$DONE/$KD_KEY" ]; then
    eval "$1"
    kd_status=$?
    if [ -n "$KD_CHECK" ] || [ "$kd_status" -eq 0 ]; then : >"$DONE/$KD_KEY"; fi
    [ -n "$KD_CHECK" ] || exit "$kd_status"
  fi
  [ -n "$KD_CHECK" ] || exit 0
  eval "$KD_CHECK"
  exit $?
fi
KD_INPUT="$GC/.kd-input.$$"
trap 'rm -f "$KD_INPUT"' EXIT
cat >"$KD_INPUT" || kd_die 73 "cannot read stdin"
. "$KD_INPUT"
if [ -f "$DONE/$KD_KEY" ]; then kd_log "$KD_KEY already done"; exit 0; fi
KD_PHASE=setup
. "$KD_INPUT"
case "$KD_MODE" in
  configure)
    if [ -n "$KD_PACKAGE_URL" ]; then
      kd_install_package
      if [ "$KD_RUN_CONFIGURE" = yes ]; then "$(kd_startscript)" --configure; else true; fi
    else true
    fi ;;
  notify)
    if kd_s=$(kd_startscript); then "$kd_s" "$@"
    else kd_log "no startscript: nothing to notify"; true
    fi ;;
  *) kd_die 64 "unknown mode: $KD_MODE" ;;
esac
kd_status=$?
if [ "$kd_status" -eq 0 ]; then : >"$DONE/$KD_KEY" || kd_die 73 "cannot record $KD_KEY"; fi
exit "$kd_status"
""".lstrip()


@dataclass(frozen=True)
class GuestFile:
    """A file the guest writes (path absolute as the container sees it)."""

    path: str
    content: str
    mode: int = 0o644


@dataclass(frozen=True)
class Injection:
    """A role's file injection: fetch ``url`` into ``dest_dir``."""

    url: str
    dest_dir: str
    mode: int | None = None
    owner: str | None = None
    group: str | None = None


def quote(text: str) -> str:
    """``text`` as one single-quoted shell word."""
    return "'" + text.replace("'", "'\\''") + "'"


def valid_key(key: str) -> bool:
    """True when ``key`` can name a done-key file (letters, digits, ``._-``)."""
    return bool(_KEY.match(key))


def _delimiter(content: str) -> str:
    lines = set(content.split("\n"))
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    delimiter = f"KD_EOF_{digest}"
    while delimiter in lines:
        delimiter += "_"
    return delimiter


def guest_input(
    files: Sequence[GuestFile] = (),
    *,
    package_url: str | None = None,
    run_configure: bool = True,
    injections: Sequence[Injection] = (),
) -> str:
    """The stdin of a guest action: the files to write and the setup to do."""
    parts: list[str] = []
    for guest_file in files:
        delimiter = _delimiter(guest_file.content)
        parts.append(
            f"kd_file {guest_file.mode:04o} {quote(guest_file.path)} <<'{delimiter}'\n"
            f"{guest_file.content}\n{delimiter}\n"
        )
    if package_url:
        parts.append(f"kd_package {quote(package_url)}\n")
    parts.append(f"kd_configure {'yes' if run_configure else 'no'}\n")
    for injection in injections:
        mode = f"{injection.mode:o}" if injection.mode is not None else ""
        words = [
            injection.url,
            injection.dest_dir,
            mode,
            injection.owner or "",
            injection.group or "",
        ]
        parts.append("kd_inject " + " ".join(quote(word) for word in words) + "\n")
    return "".join(parts)


def guest_command(mode: str, key: str, *args: str) -> tuple[str, ...]:
    """The argv of a guest action: ``sh -c GUEST_SCRIPT kd-guest MODE KEY ARGS...``."""
    if not valid_key(key):
        raise ValueError(f"{key!r} cannot be a done key: use letters, digits, '.', '_', '-'")
    return ("sh", "-c", GUEST_SCRIPT, ARGV0, mode, key, *args)
