"""The config file watcher notices every way a config file gets changed."""

from __future__ import annotations

import os

from monitor.config.watcher import ConfigFileWatcher


def test_an_untouched_file_is_no_change(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("watches: []\n")
    watcher = ConfigFileWatcher(path)
    assert not watcher.changed()


def test_an_edit_in_place_is_a_change_seen_once(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("watches: []\n")
    watcher = ConfigFileWatcher(path)
    path.write_text("watches: [] # edited\n")
    assert watcher.changed()
    assert not watcher.changed()


def test_a_file_replaced_by_rename_is_a_change(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("watches: []\n")
    watcher = ConfigFileWatcher(path)
    replacement = tmp_path / ".config.yaml.swp"
    replacement.write_text("watches: [] # saved by an editor\n")
    os.replace(replacement, path)
    assert watcher.changed()


def test_a_symlink_swap_like_a_config_map_is_a_change(tmp_path):
    for version in ("v1", "v2"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "config.yaml").write_text(f"# {version}\nwatches: []\n")
    (tmp_path / "..data").symlink_to("v1")
    path = tmp_path / "config.yaml"
    path.symlink_to("..data/config.yaml")
    watcher = ConfigFileWatcher(path)
    (tmp_path / "..data_tmp").symlink_to("v2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    assert watcher.changed()


def test_a_touch_with_the_same_content_is_no_change(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("watches: []\n")
    watcher = ConfigFileWatcher(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert not watcher.changed()


def test_a_file_missing_for_a_moment_is_no_change_until_it_returns(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("watches: []\n")
    watcher = ConfigFileWatcher(path)
    path.unlink()
    assert not watcher.changed()
    path.write_text("watches: [] # back\n")
    assert watcher.changed()
