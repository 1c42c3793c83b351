"""Copy a bot's newest backup and its checksum file into a new directory only root reads, for
playbooks/backup.yml to fetch from (tasks/backup-fetch-bot.yml runs it on the host with python3 -c).

The bot writes its backup directory, so a file there may be a link it planted to a file only root reads, put
there even between a look and a copy. Each file is opened without following a link (O_NOFOLLOW; O_NONBLOCK: a
FIFO does not hang the run) and copied only when what was opened is a regular file.
Usage: python3 -c "$(cat stage_backup.py)" NEWEST    prints the directory; exits 1 naming the file otherwise.
"""

import errno
import os
import shutil
import stat
import sys
import tempfile


def stage(newest: str, staging: str) -> str:
    """'' when both files are copied into `staging`; else what is wrong, naming the file."""
    for path in (newest, newest + ".sha256"):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as e:
            if e.errno == errno.ENOENT:
                return f"{path} is missing"
            if e.errno == errno.ELOOP:
                return f"{path} is a symbolic link (not followed)"
            return f"{path} cannot be read ({e.strerror})"
        with os.fdopen(fd, "rb") as src:
            if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
                return f"{path} is not a regular file"
            with open(os.path.join(staging, os.path.basename(path)), "xb") as dst:
                shutil.copyfileobj(src, dst)
    return ""


def main() -> int:
    staging = tempfile.mkdtemp(prefix="gridbot-backup-")
    problem = stage(sys.argv[1], staging)
    if problem:
        shutil.rmtree(staging)
        print(problem, file=sys.stderr)
        return 1
    print(staging)
    return 0


if __name__ == "__main__":
    sys.exit(main())
