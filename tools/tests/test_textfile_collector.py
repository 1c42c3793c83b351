"""pi_host's textfile collector (roles/pi_host/files/pifleet-textfile.py), run as the timer runs it, with the
Pi's `vcgencmd` and the engine's `docker` answering from a directory put first on PATH: the firmware's bits
land on the right flags, each bot container's state on its gauges under its bot, the units systemctl lists
on their failed gauges, and the file is one the exposition parser reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

from textfile_scripts import Samples, run_with_tools, written

SCRIPT = Path(__file__).resolve().parents[2] / "roles" / "pi_host" / "files" / "pifleet-textfile.py"


def samples(tmp_path: Path, tools: dict[str, str], *units: str, **env: str) -> Samples:
    out = tmp_path / "out"
    out.mkdir()
    done = run_with_tools(tmp_path, tools, SCRIPT, out, "gridbot", *units, **env)
    assert done.returncode == 0, done.stderr
    return written(out, "pifleet.prom")


def test_throttling_bits_and_an_unhealthy_restarting_container(tmp_path: Path) -> None:
    inspect = [
        {"RestartCount": 3, "State": {"Running": True, "OOMKilled": True, "Health": {"Status": "unhealthy"}}}
    ]
    got = samples(tmp_path, {
        # under-voltage and throttled now; the same two, and the soft temperature limit, since boot
        "vcgencmd": "echo throttled=0xd0005",
        "docker": f"[ \"$1\" = ps ] && exit 0; echo '{json.dumps(inspect)}'",
    })  # fmt: skip
    flags = {
        dict(k[1])["flag"] + "/" + dict(k[1])["when"]: v
        for k, v in got.items()
        if k[0] == "pifleet_throttled"
    }
    assert flags == {
        "under_voltage/now": 1, "freq_capped/now": 0, "throttled/now": 1, "soft_temp_limit/now": 0,
        "under_voltage/since_boot": 1, "freq_capped/since_boot": 0, "throttled/since_boot": 1,
        "soft_temp_limit/since_boot": 1,
    }  # fmt: skip
    default = (("bot", "default"),)
    assert got[("pifleet_bot_container_running", default)] == 1
    assert got[("pifleet_bot_container_healthy", default)] == 0
    assert got[("pifleet_bot_container_restarts", default)] == 3
    assert got[("pifleet_bot_container_oom_killed", default)] == 1
    assert got[("pifleet_reboot_required", ())] in (0, 1)
    assert got[("pifleet_textfile_timestamp_seconds", ())] > 1.7e9


def test_no_pi_firmware_and_no_container_give_no_throttling_and_a_stopped_bot(tmp_path: Path) -> None:
    got = samples(tmp_path, {"docker": "echo 'Error: No such container: gridbot' >&2; exit 1"})
    assert not [k for k in got if k[0] == "pifleet_throttled"], "no made-up zeros where there is no firmware"
    default = (("bot", "default"),)
    assert got[("pifleet_bot_container_running", default)] == 0
    assert got[("pifleet_bot_container_healthy", default)] == 0
    assert got[("pifleet_bot_container_restarts", default)] == 0


def test_each_bot_container_of_the_service_under_its_bots_name(tmp_path: Path) -> None:
    """The engine's other containers of the service (gridbot-<name>) each get their series; a container of
    another name is not a bot."""
    healthy = [
        {"RestartCount": 0, "State": {"Running": True, "OOMKilled": False, "Health": {"Status": "healthy"}}}
    ]
    stopped = [{"RestartCount": 1, "State": {"Running": False, "OOMKilled": False}}]
    docker = (
        '[ "$1" = ps ] && { printf "gridbot\\ngridbot-wide\\ngridbot-eth\\nother\\n"; exit 0; }\n'
        f"case \"$4\" in gridbot-eth) echo '{json.dumps(stopped)}' ;; *) echo '{json.dumps(healthy)}' ;; esac"
    )
    got = samples(tmp_path, {"docker": docker})
    running = {dict(k[1])["bot"]: v for k, v in got.items() if k[0] == "pifleet_bot_container_running"}
    assert running == {"default": 1, "eth": 0, "wide": 1}
    assert got[("pifleet_bot_container_restarts", (("bot", "eth"),))] == 1


def test_each_bots_newest_backup_from_the_directory_its_container_mounts(tmp_path: Path) -> None:
    """The host directory the engine mounts at the bot's backup directory holds its backups: the newest `.db`
    there dates and sizes it (not its checksum file, not another bot's in a subdirectory, not a link the bot
    could plant); a directory with none reads 0; a container that mounts none (backups off) has no series.
    Each container's creation time beside it (an ISO time with nanoseconds, as the engine gives it)."""
    default, wide, empty = tmp_path / "b", tmp_path / "b" / "wide", tmp_path / "e"
    for d in (default, wide, empty):
        d.mkdir(parents=True)
    older, newer = "gridbot-pi5-BTCUSDT-v3-20261128T000000Z.db", "gridbot-pi5-BTCUSDT-v3-20261129T000000Z.db"
    for name, size, when in ((older, 10, 1_800_000_000), (newer, 20, 1_800_086_400),
                             (newer + ".sha256", 5, 1_800_090_000)):  # fmt: skip
        (default / name).write_bytes(b"x" * size)
        os.utime(default / name, (when, when))
    (wide / "gridbot-pi5wide-ETHUSDT-v3-20261130T000000Z.db").write_bytes(b"x" * 30)
    os.utime(wide / "gridbot-pi5wide-ETHUSDT-v3-20261130T000000Z.db", (1_800_172_800, 1_800_172_800))
    (default / "gridbot-planted.db").symlink_to(wide / "gridbot-pi5wide-ETHUSDT-v3-20261130T000000Z.db")

    def state(backups: Path | None) -> str:
        mounts = [{"Source": "/var/lib/docker/volumes/x/_data", "Destination": "/data"}]
        if backups is not None:
            mounts.append({"Source": str(backups), "Destination": "/backups"})
        return json.dumps([{"RestartCount": 0, "Created": "2026-11-28T10:00:00.123456789Z", "Mounts": mounts,
                            "State": {"Running": True, "OOMKilled": False}}])  # fmt: skip

    docker = (
        '[ "$1" = ps ] && { printf "gridbot\\ngridbot-wide\\ngridbot-new\\ngridbot-off\\n"; exit 0; }\n'
        f"case \"$4\" in gridbot) echo '{state(default)}' ;; gridbot-wide) echo '{state(wide)}' ;;"
        f" gridbot-new) echo '{state(empty)}' ;; *) echo '{state(None)}' ;; esac"
    )
    got = samples(tmp_path, {"docker": docker}, PIFLEET_BACKUP_MOUNT="/backups")
    newest = {dict(k[1])["bot"]: v for k, v in got.items() if k[0] == "pifleet_bot_backup_newest_seconds"}
    size = {dict(k[1])["bot"]: v for k, v in got.items() if k[0] == "pifleet_bot_backup_newest_bytes"}
    assert newest == {"default": 1_800_086_400, "wide": 1_800_172_800, "new": 0}
    assert size == {"default": 20, "wide": 30, "new": 0}
    made = {dict(k[1])["bot"]: v for k, v in got.items() if k[0] == "pifleet_bot_container_created_seconds"}
    assert made == dict.fromkeys(("default", "wide", "new", "off"), 1_795_860_000)


def test_the_watched_units_failed_state_and_the_journal_uploads_last_batch(tmp_path: Path) -> None:
    """systemctl answers for the patterns it was given (they reach it unglobbed): the failed unit reads 1, the
    running one 0, a unit only named (not loaded) none. The uploader's state file dates its last batch."""
    state = tmp_path / "state"
    state.write_text("LAST_CURSOR=s=1\n")
    os.utime(state, (1_800_000_000, 1_800_000_000))
    listed = "\n".join([
        "gridbot-backup.service loaded failed failed gridbot: back up the store",
        "systemd-journal-upload.service loaded active running Journal Remote Upload Service",
        "gridbot-backup-wide.service not-found inactive dead gridbot-backup-wide.service",
    ])  # fmt: skip
    asked = "list-units --all --plain --no-legend --no-pager -- gridbot-backup*.service x.service"
    systemctl = f"""[ "$*" = "{asked}" ] || {{ echo "asked: $*" >&2; exit 3; }}
cat <<'LIST'
{listed}
LIST"""
    got = samples(tmp_path, {"systemctl": systemctl}, "gridbot-backup*.service", "x.service",
                  PIFLEET_JOURNAL_UPLOAD_STATE=str(state))  # fmt: skip
    failed = {dict(k[1])["unit"]: v for k, v in got.items() if k[0] == "pifleet_unit_failed"}
    assert failed == {"gridbot-backup.service": 1, "systemd-journal-upload.service": 0}
    assert got[("pifleet_journal_upload_saved_seconds", ())] == 1_800_000_000


def test_no_units_watched_and_no_uploader_give_neither_series(tmp_path: Path) -> None:
    systemctl = 'case "$*" in is-enabled*) echo disabled; exit 1 ;; *) echo "asked: $*" >&2; exit 3 ;; esac'
    got = samples(tmp_path, {"systemctl": systemctl}, PIFLEET_JOURNAL_UPLOAD_STATE=str(tmp_path / "absent"))
    assert not [k for k in got if k[0] in ("pifleet_unit_failed", "pifleet_journal_upload_saved_seconds")]


def test_an_enabled_uploader_without_its_state_file_reads_as_never(tmp_path: Path) -> None:
    """No batch taken yet, or the file removed when it could not be saved: 0, which HostJournalUploadStopped
    takes for long ago, rather than no series, which it would take for no uploader."""
    systemctl = '[ "$*" = "is-enabled --quiet systemd-journal-upload.service" ] || exit 3'
    got = samples(tmp_path, {"systemctl": systemctl}, PIFLEET_JOURNAL_UPLOAD_STATE=str(tmp_path / "absent"))
    assert got[("pifleet_journal_upload_saved_seconds", ())] == 0


# smartctl --json --health --attributes of an NVMe drive (smartmontools 7.3/7.4), cut to what is read and a
# few fields beside it; exit status 8 (bit 3: "SMART status check returned DISK FAILING") with its JSON all
# the same, as smartctl does for a drive whose critical warning is set.
SMARTCTL_NVME = {
    "json_format_version": [1, 0],
    "smartctl": {"version": [7, 4], "exit_status": 8},
    "device": {"name": "/dev/nvme0", "type": "nvme", "protocol": "NVMe"},
    "smart_status": {"passed": False, "nvme": {"value": 8}},
    "nvme_smart_health_information_log": {
        "critical_warning": 8, "temperature": 41, "available_spare": 100, "available_spare_threshold": 10,
        "percentage_used": 104, "data_units_read": 180246471, "data_units_written": 85848679,
        "media_errors": 3, "num_err_log_entries": 12, "unsafe_shutdowns": 35,
    },
}  # fmt: skip


def test_flash_wear_from_an_emmcs_estimates_and_an_nvme_drives_health_log_and_none_from_an_sd_card(
    tmp_path: Path,
) -> None:
    """An eMMC's JEDEC life time estimates (the worse of types A and B, 0x09: up to 90 % used) and its pre-EOL
    state (0x02: warning) from sysfs; an NVMe controller's health log through smartctl (a failing drive's exit
    status, its JSON read all the same); an SD card (no estimate in sysfs) and a partition give nothing."""
    sysfs = tmp_path / "sys"
    emmc = sysfs / "block" / "mmcblk0" / "device"
    emmc.mkdir(parents=True)
    (emmc / "life_time").write_text("0x02 0x09\n")
    (emmc / "pre_eol_info").write_text("0x02\n")
    (sysfs / "block" / "mmcblk1" / "device").mkdir(parents=True)  # an SD card: no life_time
    (sysfs / "block" / "mmcblk0p1").mkdir()
    (sysfs / "class" / "nvme" / "nvme0").mkdir(parents=True)
    smartctl = f"[ \"$4\" = /dev/nvme0 ] || exit 2; echo '{json.dumps(SMARTCTL_NVME)}'; exit 8"
    got = samples(tmp_path, {"smartctl": smartctl}, PIFLEET_SYSFS=str(sysfs))
    wear = {(k[0], dict(k[1])["device"], dict(k[1])["kind"]): v for k, v in got.items() if "disk" in k[0]}
    assert wear == {
        ("pifleet_disk_life_used_ratio", "mmcblk0", "emmc"): 0.9,
        ("pifleet_disk_pre_eol", "mmcblk0", "emmc"): 2,
        ("pifleet_disk_life_used_ratio", "nvme0", "nvme"): 1.04,
        ("pifleet_disk_critical_warning", "nvme0", "nvme"): 8,
        ("pifleet_disk_media_errors", "nvme0", "nvme"): 3,
    }


def test_no_flash_that_reports_wear_and_no_smartctl_give_no_wear_series(tmp_path: Path) -> None:
    """A host of SD cards, or an NVMe drive without smartctl: no series rather than made-up zeros."""
    sysfs = tmp_path / "sys"
    (sysfs / "block" / "mmcblk0" / "device").mkdir(parents=True)
    (sysfs / "class" / "nvme" / "nvme0").mkdir(parents=True)
    got = samples(tmp_path, {}, PIFLEET_SYSFS=str(sysfs))
    assert not [k for k in got if k[0].startswith("pifleet_disk_")], got
