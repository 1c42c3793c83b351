"""The VM tier is Pi-like where the roles need it to be."""

import pytest

from fleet import assert_came_through_a_reboot, one_line_cmdline_txt


@pytest.fixture
def name(host):
    return host.ansible.get_variables()["inventory_hostname"]


def test_arm64(host):
    assert host.check_output("uname -m") == "aarch64"


def test_cmdline_change_took_effect_through_a_reboot(host, name):
    assert "pifleet.selftest=1" in host.file("/proc/cmdline").content_string.split()
    assert_came_through_a_reboot(name, "pifleet.selftest=1")


def test_cmdline_txt_is_still_one_line(host):
    assert "root=PARTUUID=" in one_line_cmdline_txt(host)


def test_boot_partition_is_pi_like(host):
    assert host.mount_point("/boot/firmware").filesystem == "vfat"
    config = host.file("/boot/firmware/config.txt").content_string
    for section in ("[pi4]", "[pi5]", "[all]"):
        assert section in config


def test_watchdog_device(host):
    assert host.run("test -c /dev/watchdog").rc == 0


def test_nvme_disk_present(host):
    assert host.file("/sys/block/nvme0n1").exists
    assert int(host.file("/sys/block/nvme0n1/size").content_string) * 512 >= 4 * 1024**3


def test_release_matches_the_group(host):
    groups = host.ansible.get_variables()["group_names"]
    codename = host.system_info.codename
    assert codename == ("trixie" if "pi5" in groups else "bookworm")
