// SPDX-License-Identifier: GPL-2.0-or-later
// ban_file=: mod_iplimit's bans across restarts of a node, one "ADDRESS EXPIRY" line
// each (expiry in Unix seconds), replaced whole through a rename so that a crash
// leaves the old file or the new one, never half of one.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

using BanList = std::map<std::string, uint64_t>;  // address -> expiry, Unix seconds

// The bans still running at `now`; lines that are not "numeric-address number" are
// skipped. A missing file is an empty list; nullopt with `error` set when unreadable.
std::optional<BanList> ban_file_load(const std::string& path, uint64_t now, std::string& error);
// An empty string on success, else what failed.
std::string ban_file_save(const std::string& path, const BanList& bans);
