// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for core/config: the option table, line parsing, file loading with file:line
// errors, overrides, semantic checks, the seed configs, the sample ftpd.conf, the man page.
#include "core/common/config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "core/host/modules.hpp"

#ifndef MOAT_TEST_DATA_DIR
#define MOAT_TEST_DATA_DIR "tests/data"
#endif
#ifndef MOAT_TEST_BUILD_DIR
#define MOAT_TEST_BUILD_DIR "."
#endif

namespace moat {
namespace {

std::string test_data_dir() {
  const char* env = std::getenv("MOAT_TEST_DATA");
  return (env != nullptr && *env != '\0') ? env : MOAT_TEST_DATA_DIR;
}

std::string seed(const std::string& name) { return test_data_dir() + "/seed-configs/" + name; }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A config file under /tmp that is removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/moat-config-test-XXXXXX";
    const int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    path_ = name;
    if (fd >= 0) {
      EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
      ::close(fd);
    }
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The modules this build made (modules/*.so), for the tests that load real ones.
const std::string kBuiltModules = std::string(MOAT_TEST_BUILD_DIR) + "/modules";

bool built_module(const std::string& name) {
  return ::access((kBuiltModules + "/" + name + ".so").c_str(), R_OK) == 0;
}

// A module_dir under /tmp holding links to built modules, or directories, removed at
// the end.
class TempModuleDir {
 public:
  TempModuleDir() {
    char name[] = "/tmp/moat-modules-test-XXXXXX";
    EXPECT_NE(::mkdtemp(name), nullptr);
    path_ = name;
  }
  ~TempModuleDir() {
    for (const std::string& f : files_) ::unlink(f.c_str());
    for (const std::string& d : dirs_) ::rmdir(d.c_str());
    ::rmdir(path_.c_str());
  }
  TempModuleDir(const TempModuleDir&) = delete;
  TempModuleDir& operator=(const TempModuleDir&) = delete;

  void add_module(const std::string& module) {
    const std::string f = path_ + "/" + module + ".so";
    EXPECT_EQ(::symlink((kBuiltModules + "/" + module + ".so").c_str(), f.c_str()), 0);
    files_.push_back(f);
  }
  void add_directory(const std::string& module) {
    const std::string d = path_ + "/" + module + ".so";
    EXPECT_EQ(::mkdir(d.c_str(), 0700), 0);
    dirs_.push_back(d);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
  std::vector<std::string> dirs_;
};

std::string apply_error(const std::string& line) {
  Config cfg;
  Status st = config_apply_line(cfg, line);
  return st.ok() ? std::string("(no error)") : st.error();
}

// ---- the table -----------------------------------------------------------

TEST(ConfigTable, FollowsOptionsDefOrderAndFindsEveryName) {
  const auto& table = option_table();
  ASSERT_GE(table.size(), 70u);
  EXPECT_STREQ(table.front().name, "listen");
  EXPECT_STREQ(table.back().name, "syslog_enable");
  std::set<std::string> names;
  for (const OptionInfo& info : table) {
    EXPECT_TRUE(names.insert(info.name).second) << "duplicate " << info.name;
    EXPECT_EQ(option_find(info.name), &info);
    EXPECT_NE(std::string(info.description), "");
  }
  EXPECT_EQ(option_find("no_such_option"), nullptr);
  EXPECT_EQ(option_find(""), nullptr);
  EXPECT_EQ(option_find("LISTEN"), nullptr);  // names are case-sensitive, as in vsftpd
  EXPECT_EQ(option_find("load_module"), nullptr);
}

TEST(ConfigTable, TypesAndOwners) {
  EXPECT_EQ(option_find("listen")->type, OptionType::kBool);
  EXPECT_EQ(option_find("listen_port")->type, OptionType::kUint);
  EXPECT_EQ(option_find("ftpd_banner")->type, OptionType::kString);
  EXPECT_STREQ(option_find("listen")->owner, "core");
  // mod_iplimit's options are in its own table, not the core's.
  EXPECT_EQ(option_find("max_clients"), nullptr);
  EXPECT_STREQ(first_party_owner("max_per_ip"), "mod_iplimit");
  // So are mod_anon_upload's.
  EXPECT_EQ(option_find("anon_upload_enable"), nullptr);
  EXPECT_STREQ(first_party_owner("anon_upload_enable"), "mod_anon_upload");
  EXPECT_STREQ(first_party_owner("chown_upload_mode"), "mod_anon_upload");
  EXPECT_STREQ(first_party_owner("chown_username"), "mod_anon_upload");
  // And mod_throttle's.
  EXPECT_EQ(option_find("anon_max_rate"), nullptr);
  EXPECT_STREQ(first_party_owner("anon_max_rate"), "mod_throttle");
  EXPECT_STREQ(first_party_owner("server_max_rate"), "mod_throttle");
}

TEST(ConfigTable, DefaultTextIsHowFtpdConfWritesIt) {
  EXPECT_STREQ(option_find("listen")->default_text, "NO");
  EXPECT_STREQ(option_find("anonymous_enable")->default_text, "YES");
  EXPECT_STREQ(option_find("listen_port")->default_text, "21");
  EXPECT_STREQ(option_find("idle_session_timeout")->default_text, "300");
  EXPECT_STREQ(option_find("pasv_min_port")->default_text, "0");
  EXPECT_STREQ(option_find("local_umask")->default_text, "077");
  EXPECT_STREQ(option_find("anon_umask")->default_text, "077");
  EXPECT_STREQ(option_find("file_open_mode")->default_text, "0666");
  EXPECT_STREQ(option_find("pam_service_name")->default_text, "ftp");
  EXPECT_STREQ(option_find("secure_chroot_dir")->default_text, MOAT_DEFAULT_SECURE_CHROOT_DIR);
  EXPECT_STREQ(option_find("anon_root")->default_text, "");
  EXPECT_STREQ(option_find("module_dir")->default_text, MOAT_DEFAULT_MODULE_DIR);
}

// Writing each default back through the parser must give the default value again, and
// each table entry's field must be the member its name says.
TEST(ConfigTable, DefaultTextRoundTripsThroughTheParser) {
  const Config defaults;
  for (const OptionInfo& info : option_table()) {
    Config cfg;
    const std::string line = std::string(info.name) + "=" + info.default_text;
    ASSERT_TRUE(config_apply_line(cfg, line).ok()) << line;
    std::visit([&](auto field) { EXPECT_EQ(cfg.*field, defaults.*field) << line; }, info.field);
  }
}

TEST(ConfigTable, FieldPointsAtTheNamedMember) {
  Config cfg;
  const auto& port = std::get<unsigned Config::*>(option_find("listen_port")->field);
  cfg.*port = 2121;
  EXPECT_EQ(cfg.listen_port, 2121u);
  const auto& banner = std::get<std::string Config::*>(option_find("ftpd_banner")->field);
  cfg.*banner = "hi";
  EXPECT_EQ(cfg.ftpd_banner, "hi");
  const auto& ipv6 = std::get<bool Config::*>(option_find("listen_ipv6")->field);
  cfg.*ipv6 = true;
  EXPECT_TRUE(cfg.listen_ipv6);
  EXPECT_FALSE(cfg.listen);
}

TEST(ConfigDefaults, EqualVsftpds) {
  const Config c;
  EXPECT_FALSE(c.listen);
  EXPECT_FALSE(c.listen_ipv6);
  EXPECT_EQ(c.listen_address, "");
  EXPECT_EQ(c.listen_port, 21u);
  EXPECT_FALSE(c.background);
  EXPECT_TRUE(c.anonymous_enable);
  EXPECT_FALSE(c.no_anon_password);
  EXPECT_EQ(c.ftp_username, "ftp");
  EXPECT_FALSE(c.local_enable);
  EXPECT_EQ(c.pam_service_name, "ftp");
  EXPECT_FALSE(c.session_support);
  EXPECT_FALSE(c.userlist_enable);
  EXPECT_TRUE(c.userlist_deny);
  EXPECT_EQ(c.userlist_file, "/etc/vsftpd.user_list");
  EXPECT_FALSE(c.tcp_wrappers);
  EXPECT_EQ(c.max_login_fails, 3u);
  EXPECT_EQ(c.delay_failed_login, 1u);
  EXPECT_EQ(c.delay_successful_login, 0u);
  EXPECT_FALSE(c.deny_email_enable);
  EXPECT_EQ(c.banned_email_file, "/etc/vsftpd.banned_emails");
  EXPECT_FALSE(c.secure_email_list_enable);
  EXPECT_EQ(c.email_password_file, "/etc/vsftpd.email_passwords");
  EXPECT_EQ(c.nopriv_user, "nobody");
  EXPECT_EQ(c.secure_chroot_dir, MOAT_DEFAULT_SECURE_CHROOT_DIR);
  EXPECT_TRUE(c.seccomp_sandbox);
  EXPECT_FALSE(c.chroot_local_user);
  EXPECT_FALSE(c.chroot_list_enable);
  EXPECT_EQ(c.chroot_list_file, "/etc/vsftpd.chroot_list");
  EXPECT_FALSE(c.allow_writeable_chroot);
  EXPECT_FALSE(c.passwd_chroot_enable);
  EXPECT_FALSE(c.write_enable);
  EXPECT_EQ(c.local_umask, 077u);
  EXPECT_EQ(c.anon_umask, 077u);
  EXPECT_EQ(c.file_open_mode, 0666u);
  EXPECT_TRUE(c.chmod_enable);
  EXPECT_TRUE(c.download_enable);
  EXPECT_TRUE(c.anon_world_readable_only);
  EXPECT_EQ(c.deny_file, "");
  EXPECT_EQ(c.hide_file, "");
  EXPECT_TRUE(c.dirlist_enable);
  EXPECT_FALSE(c.hide_ids);
  EXPECT_FALSE(c.ls_recurse_enable);
  EXPECT_FALSE(c.force_dot_files);
  EXPECT_FALSE(c.use_localtime);
  EXPECT_TRUE(c.mdtm_write);
  EXPECT_FALSE(c.ascii_upload_enable);
  EXPECT_FALSE(c.ascii_download_enable);
  EXPECT_FALSE(c.dirmessage_enable);
  EXPECT_EQ(c.message_file, ".message");
  EXPECT_TRUE(c.module_options.empty());
  EXPECT_FALSE(c.modules);
  EXPECT_TRUE(c.pasv_enable);
  EXPECT_EQ(c.pasv_min_port, 0u);
  EXPECT_EQ(c.pasv_max_port, 0u);
  EXPECT_EQ(c.pasv_address, "");
  EXPECT_FALSE(c.pasv_addr_resolve);
  EXPECT_FALSE(c.pasv_promiscuous);
  EXPECT_TRUE(c.port_enable);
  EXPECT_FALSE(c.port_promiscuous);
  EXPECT_FALSE(c.connect_from_port_20);
  EXPECT_EQ(c.ftp_data_port, 20u);
  EXPECT_EQ(c.ftpd_banner, "");
  EXPECT_EQ(c.banner_file, "");
  EXPECT_EQ(c.idle_session_timeout, 300u);
  EXPECT_EQ(c.data_connection_timeout, 300u);
  EXPECT_EQ(c.accept_timeout, 60u);
  EXPECT_EQ(c.connect_timeout, 60u);
  EXPECT_FALSE(c.xferlog_enable);
  EXPECT_EQ(c.xferlog_file, "/var/log/xferlog");
  EXPECT_FALSE(c.xferlog_std_format);
  EXPECT_EQ(c.vsftpd_log_file, "/var/log/vsftpd.log");
  EXPECT_FALSE(c.dual_log_enable);
  EXPECT_FALSE(c.log_ftp_protocol);
  EXPECT_FALSE(c.syslog_enable);
  EXPECT_TRUE(c.load_module.empty());
}

// ---- one line ------------------------------------------------------------

TEST(ConfigLine, BooleansInAnyCase) {
  for (const char* yes : {"YES", "yes", "Yes", "TRUE", "true", "tRuE", "1"}) {
    Config cfg;
    ASSERT_TRUE(config_apply_line(cfg, std::string("listen=") + yes).ok()) << yes;
    EXPECT_TRUE(cfg.listen) << yes;
  }
  for (const char* no : {"NO", "no", "No", "FALSE", "false", "0"}) {
    Config cfg;
    ASSERT_TRUE(config_apply_line(cfg, std::string("anonymous_enable=") + no).ok()) << no;
    EXPECT_FALSE(cfg.anonymous_enable) << no;
  }
}

TEST(ConfigLine, BadBooleans) {
  EXPECT_EQ(apply_error("listen=on"), "bad boolean value 'on' for listen (use YES or NO)");
  EXPECT_EQ(apply_error("listen="), "bad boolean value '' for listen (use YES or NO)");
  for (const char* bad : {"Y", "N", "2", "YES ", "YESS", "01", "-1", "yes!", "ÿes"}) {
    EXPECT_NE(apply_error(std::string("listen=") + bad).find("bad boolean value"),
              std::string::npos)
        << bad;
  }
}

TEST(ConfigLine, DecimalAndOctalNumbers) {
  Config cfg;
  ASSERT_TRUE(config_apply_line(cfg, "idle_session_timeout=600").ok());
  EXPECT_EQ(cfg.idle_session_timeout, 600u);
  ASSERT_TRUE(config_apply_line(cfg, "local_umask=022").ok());
  EXPECT_EQ(cfg.local_umask, 022u);
  // vsftpd reads any number with a leading 0 as octal, not just the umasks.
  ASSERT_TRUE(config_apply_line(cfg, "idle_session_timeout=010").ok());
  EXPECT_EQ(cfg.idle_session_timeout, 8u);
  ASSERT_TRUE(config_apply_line(cfg, "max_login_fails=0").ok());
  EXPECT_EQ(cfg.max_login_fails, 0u);
  ASSERT_TRUE(config_apply_line(cfg, "max_login_fails=00").ok());
  EXPECT_EQ(cfg.max_login_fails, 0u);
  ASSERT_TRUE(config_apply_line(cfg, "data_connection_timeout=4294967295").ok());
  EXPECT_EQ(cfg.data_connection_timeout, 4294967295u);
  ASSERT_TRUE(config_apply_line(cfg, "anon_umask=0").ok());
  EXPECT_EQ(cfg.anon_umask, 0u);
}

TEST(ConfigLine, BadNumbers) {
  EXPECT_EQ(apply_error("idle_session_timeout="),
            "empty value for idle_session_timeout (expected a number)");
  EXPECT_EQ(apply_error("idle_session_timeout=4294967296"),
            "number '4294967296' for idle_session_timeout is too large");
  EXPECT_EQ(apply_error("idle_session_timeout=99999999999999999999999"),
            "number '99999999999999999999999' for idle_session_timeout is too large");
  EXPECT_EQ(apply_error("idle_session_timeout=12a"),
            "bad number '12a' for idle_session_timeout (use a decimal number, or octal with a "
            "leading 0)");
  EXPECT_EQ(apply_error("local_umask=089"),
            "bad number '089' for local_umask (a leading 0 means octal: digits 0-7)");
  for (const char* bad : {"-1", "+1", "1 ", "1\t", "0x10", "1e3", "1.5", "ten", "١"}) {
    EXPECT_NE(apply_error(std::string("max_login_fails=") + bad).find("bad number"),
              std::string::npos)
        << bad;
  }
}

TEST(ConfigLine, StringsAreVerbatim) {
  Config cfg;
  ASSERT_TRUE(config_apply_line(cfg, "ftpd_banner=Welcome  to # the = server  ").ok());
  EXPECT_EQ(cfg.ftpd_banner, "Welcome  to # the = server  ");
  ASSERT_TRUE(config_apply_line(cfg, "pasv_address=203.0.113.10").ok());
  EXPECT_EQ(cfg.pasv_address, "203.0.113.10");
  ASSERT_TRUE(config_apply_line(cfg, "ftpd_banner=").ok());
  EXPECT_EQ(cfg.ftpd_banner, "");
  ASSERT_TRUE(config_apply_line(cfg, "ftpd_banner=Grüße\tand\\n").ok());
  EXPECT_EQ(cfg.ftpd_banner, "Grüße\tand\\n");
}

TEST(ConfigLine, CommentsAndBlankLinesChangeNothing) {
  const Config defaults;
  for (const char* line : {"", " ", "\t", "#listen=YES", "# listen=YES", "   # indented comment",
                           "\t#x", "#", "\r", "  \r"}) {
    Config cfg;
    ASSERT_TRUE(config_apply_line(cfg, line).ok()) << '[' << line << ']';
    EXPECT_EQ(cfg.listen, defaults.listen);
  }
}

TEST(ConfigLine, CommentAfterAValueIsPartOfIt) {
  EXPECT_EQ(apply_error("listen=YES # on"),
            "bad boolean value 'YES # on' for listen (use YES or NO)");
}

TEST(ConfigLine, NoWhitespaceAroundEquals) {
  for (const char* line : {"listen =YES", "listen= YES", "listen = YES", "listen\t=YES"}) {
    EXPECT_EQ(apply_error(line).find("no whitespace allowed around '='"), 0u) << line;
  }
  EXPECT_EQ(apply_error("  listen=YES"), "whitespace before option name '  listen' is not allowed");
}

TEST(ConfigLine, MalformedLines) {
  EXPECT_EQ(apply_error("listen"), "expected name=value, got 'listen'");
  EXPECT_EQ(apply_error("=YES"), "missing option name before '='");
  EXPECT_EQ(apply_error("lisen=YES"), "unknown option 'lisen'");
  EXPECT_EQ(apply_error("LISTEN=YES"), "unknown option 'LISTEN'");
  // Control characters never reach the message verbatim.
  EXPECT_EQ(apply_error("bad\x1b[2Jname=1"), "unknown option 'bad?[2Jname'");
  const std::string longname(200, 'x');
  const std::string err = apply_error(longname + "=1");
  EXPECT_LT(err.size(), 120u);
  EXPECT_NE(err.find("...'"), std::string::npos);
}

TEST(ConfigLine, VsftpdOptionsNotSupportedYet) {
  for (const char* name : {"ptrace_sandbox", "http_enable"}) {
    EXPECT_EQ(apply_error(std::string(name) + "=YES"),
              "'" + std::string(name) + "' is a vsftpd option moatftpd does not support yet");
  }
  Config cfg;
  ASSERT_TRUE(config_apply_line(cfg, "pasv_addr_resolve=YES").ok());
  EXPECT_TRUE(cfg.pasv_addr_resolve);
}

// vsftpd's TLS options parse, with vsftpd's defaults; TLS below 1.2 is never offered,
// but the options that would ask for it are accepted so vsftpd configs still load.
TEST(ConfigLine, TlsOptions) {
  const Config defaults;
  EXPECT_FALSE(defaults.ssl_enable);
  EXPECT_EQ(defaults.rsa_cert_file, "/usr/share/ssl/certs/vsftpd.pem");
  EXPECT_EQ(defaults.rsa_private_key_file, "");
  EXPECT_EQ(defaults.ssl_ciphers, "DEFAULT");
  EXPECT_EQ(defaults.ssl_ciphersuites,
            "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  EXPECT_TRUE(defaults.ssl_tlsv1_2);
  EXPECT_TRUE(defaults.ssl_tlsv1_3);
  EXPECT_TRUE(defaults.force_local_logins_ssl);
  EXPECT_TRUE(defaults.force_local_data_ssl);
  EXPECT_FALSE(defaults.force_anon_logins_ssl);
  EXPECT_FALSE(defaults.force_anon_data_ssl);
  EXPECT_FALSE(defaults.allow_anon_ssl);
  EXPECT_TRUE(defaults.require_ssl_reuse);
  EXPECT_TRUE(defaults.ssl_request_cert);
  EXPECT_FALSE(defaults.require_cert);
  EXPECT_FALSE(defaults.validate_cert);
  EXPECT_FALSE(defaults.implicit_ssl);
  EXPECT_EQ(defaults.ssl_sni_hostname, "");
  Config cfg;
  for (const char* line :
       {"ssl_enable=YES", "rsa_cert_file=/etc/ssl/ftp.pem", "rsa_private_key_file=/etc/ssl/ftp.key",
        "ssl_ciphers=HIGH", "ssl_tlsv1_2=NO", "ssl_sslv2=YES", "ssl_sslv3=YES", "ssl_tlsv1=YES",
        "ssl_tlsv1_1=YES", "force_local_logins_ssl=NO", "force_anon_data_ssl=YES",
        "allow_anon_ssl=YES", "implicit_ssl=YES",
        "ca_certs_file=/etc/ssl/ca.pem", "require_cert=YES", "validate_cert=YES",
        "require_ssl_reuse=NO", "strict_ssl_read_eof=YES", "strict_ssl_write_shutdown=YES",
        "debug_ssl=YES", "ssl_sni_hostname=ftp.example.com", "ssl_request_cert=NO"}) {
    EXPECT_TRUE(config_apply_line(cfg, line).ok()) << line;
  }
  EXPECT_TRUE(cfg.ssl_enable);
  EXPECT_EQ(cfg.rsa_private_key_file, "/etc/ssl/ftp.key");
  EXPECT_EQ(cfg.ssl_ciphers, "HIGH");
  EXPECT_FALSE(cfg.ssl_tlsv1_2);
  EXPECT_TRUE(cfg.ssl_tlsv1_1);
  EXPECT_TRUE(cfg.implicit_ssl);
  EXPECT_EQ(cfg.ssl_sni_hostname, "ftp.example.com");
  EXPECT_FALSE(cfg.ssl_request_cert);
  EXPECT_EQ(apply_error("ssl_enable=MAYBE"),
            "bad boolean value 'MAYBE' for ssl_enable (use YES or NO)");
  EXPECT_EQ(apply_error("ssl_tlsv1_4=YES"), "unknown option 'ssl_tlsv1_4'");
  // implicit_ssl makes listen_port implicit, as in vsftpd: no second port to set.
  EXPECT_EQ(apply_error("implicit_ssl_port=990"), "unknown option 'implicit_ssl_port'");
}

// Access-control options that were once "not supported yet" now parse as vsftpd's.
TEST(ConfigLine, AccessOptions) {
  Config cfg;
  for (const char* line : {"deny_email_enable=YES", "banned_email_file=/etc/banned",
                           "secure_email_list_enable=YES", "email_password_file=/etc/pw",
                           "anon_world_readable_only=NO", "deny_file={*.mp3,*.mov,.private}",
                           "hide_file={.*,*.bak}"}) {
    EXPECT_TRUE(config_apply_line(cfg, line).ok()) << line;
  }
  EXPECT_TRUE(cfg.deny_email_enable);
  EXPECT_EQ(cfg.banned_email_file, "/etc/banned");
  EXPECT_TRUE(cfg.secure_email_list_enable);
  EXPECT_EQ(cfg.email_password_file, "/etc/pw");
  EXPECT_FALSE(cfg.anon_world_readable_only);
  EXPECT_EQ(cfg.deny_file, "{*.mp3,*.mov,.private}");
  EXPECT_EQ(cfg.hide_file, "{.*,*.bak}");
  EXPECT_EQ(apply_error("anon_world_readable_only=maybe"),
            "bad boolean value 'maybe' for anon_world_readable_only (use YES or NO)");
}

TEST(ConfigLine, LengthAndNulLimits) {
  Config cfg;
  const std::string prefix = "ftpd_banner=";
  const std::string exact = prefix + std::string(4096 - prefix.size(), 'a');
  ASSERT_TRUE(config_apply_line(cfg, exact).ok());
  EXPECT_EQ(cfg.ftpd_banner.size(), 4096 - prefix.size());
  EXPECT_EQ(apply_error(exact + "a"), "line longer than 4096 bytes");
  ASSERT_TRUE(config_apply_line(cfg, exact + "\r").ok());  // the CR of CRLF does not count
  EXPECT_EQ(apply_error(std::string("ftpd_banner=a\0b", 15)), "NUL byte in line");
  EXPECT_EQ(apply_error("ftpd_banner=hi\r\n230 forged"), "line break inside a line");
}

// vsftpd keeps a trailing \r in the value and then rejects "YES\r"; we strip one \r so a
// file saved with CRLF line endings works.
TEST(ConfigLine, TrailingCarriageReturnIsStripped) {
  Config cfg;
  ASSERT_TRUE(config_apply_line(cfg, "listen=YES\r").ok());
  EXPECT_TRUE(cfg.listen);
  ASSERT_TRUE(config_apply_line(cfg, "ftpd_banner=Hello\r").ok());
  EXPECT_EQ(cfg.ftpd_banner, "Hello");
  EXPECT_EQ(apply_error("listen=YES\r\r"), "bad boolean value 'YES?' for listen (use YES or NO)");
}

TEST(ConfigLine, PortAndModeRanges) {
  Config cfg;
  for (const char* port : {"listen_port", "ftp_data_port", "pasv_min_port", "pasv_max_port"}) {
    ASSERT_TRUE(config_apply_line(cfg, std::string(port) + "=65535").ok()) << port;
    EXPECT_EQ(apply_error(std::string(port) + "=65536"),
              std::string(port) + "=65536: a port must be at most 65535");
  }
  EXPECT_EQ(cfg.listen_port, 65535u);
  for (const char* mode : {"local_umask", "anon_umask", "file_open_mode"}) {
    ASSERT_TRUE(config_apply_line(cfg, std::string(mode) + "=0777").ok()) << mode;
    EXPECT_EQ(apply_error(std::string(mode) + "=01000"),
              std::string(mode) + "=01000: a mode must be at most 0777");
    // 777 without the leading 0 is decimal, i.e. 01411: refused, not silently odd.
    EXPECT_EQ(apply_error(std::string(mode) + "=777"),
              std::string(mode) + "=01411: a mode must be at most 0777");
  }
  EXPECT_EQ(cfg.file_open_mode, 0777u);
  ASSERT_TRUE(config_apply_line(cfg, "idle_session_timeout=70000").ok());  // not a port
}

TEST(ConfigLine, LoadModuleAppendsAndRejectsBadNames) {
  Config cfg;
  ASSERT_TRUE(config_apply_line(cfg, "load_module=mod_iplimit").ok());
  ASSERT_TRUE(config_apply_line(cfg, "load_module=mod_anon_upload2").ok());
  EXPECT_EQ(cfg.load_module, (std::vector<std::string>{"mod_iplimit", "mod_anon_upload2"}));
  Status dup = config_apply_line(cfg, "load_module=mod_iplimit");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error(), "load_module=mod_iplimit appears twice");
  EXPECT_EQ(cfg.load_module.size(), 2u);
  for (const char* bad : {"", "Mod_x", "mod-x", "../mod", "mod x", "/abs", "mod.so",
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    EXPECT_NE(apply_error(std::string("load_module=") + bad).find("bad module name"),
              std::string::npos)
        << bad;
  }
}

// ---- files and overrides -------------------------------------------------

TEST(ConfigLoad, MinimalFile) {
  TempFile f("listen=YES\n");
  auto cfg = config_load(f.path(), {});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_TRUE(cfg->listen);
  EXPECT_EQ(cfg->source_file, f.path());
  EXPECT_EQ(cfg->listen_port, 21u);
}

TEST(ConfigLoad, ErrorsNameFileAndLine) {
  TempFile f("# comment\nlisten=YES\n\nanonymous_enable=maybe\nlisten_port=21\n");
  auto cfg = config_load(f.path(), {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error(),
            f.path() + ":4: bad boolean value 'maybe' for anonymous_enable (use YES or NO)");
}

TEST(ConfigLoad, UnknownOptionWithLine) {
  TempFile f("listen=YES\nlisten_prot=21\n");
  auto cfg = config_load(f.path(), {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error(), f.path() + ":2: unknown option 'listen_prot'");
}

TEST(ConfigLoad, VsftpdOnlyOptionWithLine) {
  TempFile f("listen=YES\nhttp_enable=YES\n");
  auto cfg = config_load(f.path(), {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error(),
            f.path() + ":2: 'http_enable' is a vsftpd option moatftpd does not support yet");
}

TEST(ConfigLoad, UnreadableFiles) {
  auto missing = config_load("/nonexistent/moat/ftpd.conf", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), "/nonexistent/moat/ftpd.conf: No such file or directory");
  auto dir = config_load("/tmp", {});
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error(), "/tmp: Is a directory");
}

TEST(ConfigLoad, LongLineAndNulByteNameTheirLine) {
  TempFile longline("listen=YES\nftpd_banner=" + std::string(5000, 'x') + "\n");
  auto a = config_load(longline.path(), {});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error(), longline.path() + ":2: line longer than 4096 bytes");
  TempFile nul(std::string("listen=YES\n\nftpd_banner=a\0b\n", 28));
  auto b = config_load(nul.path(), {});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error(), nul.path() + ":3: NUL byte in line");
}

TEST(ConfigLoad, CrlfFileAndNoFinalNewline) {
  TempFile crlf(
      "# saved on Windows\r\nlisten=YES\r\nftpd_banner=Hello there\r\nlocal_umask=022\r\n");
  auto cfg = config_load(crlf.path(), {});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->ftpd_banner, "Hello there");
  EXPECT_EQ(cfg->local_umask, 022u);
  TempFile unterminated("listen_ipv6=YES\nlisten_port=2121");
  auto cfg2 = config_load(unterminated.path(), {});
  ASSERT_TRUE(cfg2.ok()) << cfg2.error();
  EXPECT_EQ(cfg2->listen_port, 2121u);
}

TEST(ConfigLoad, EmptyFileNeedsAListener) {
  TempFile f("");
  auto cfg = config_load(f.path(), {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error(), f.path() +
                             ": neither listen=YES nor listen_ipv6=YES: moatftpd runs only as a "
                             "standalone server");
}

TEST(ConfigLoad, ListenNoNamesItsLine) {
  TempFile f("anonymous_enable=NO\nlisten=NO\n");
  auto cfg = config_load(f.path(), {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().rfind(f.path() + ":2: neither listen=YES nor listen_ipv6=YES", 0), 0u)
      << cfg.error();
}

TEST(ConfigLoad, EitherOrBothListeners) {
  TempFile v4("listen=YES\n"), v6("listen_ipv6=YES\n"), both("listen=YES\nlisten_ipv6=YES\n");
  auto a = config_load(v4.path(), {});
  auto b = config_load(v6.path(), {});
  auto c = config_load(both.path(), {});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_TRUE(a->listen && !a->listen_ipv6);
  EXPECT_TRUE(!b->listen && b->listen_ipv6);
  EXPECT_TRUE(c->listen && c->listen_ipv6);  // vsftpd refuses this; we serve both
}

TEST(ConfigLoad, OverridesApplyAfterTheFileInOrder) {
  TempFile f("listen=YES\nlisten_port=21\nftpd_banner=from file\n");
  auto cfg = config_load(f.path(), {"listen_port=2121", "listen_port=2122", "ftpd_banner=a=b"});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->listen_port, 2122u);
  EXPECT_EQ(cfg->ftpd_banner, "a=b");
}

TEST(ConfigLoad, OverridesWithoutAFile) {
  auto cfg = config_load("", {"listen=YES", "listen_address=127.0.0.1", "listen_port=0"});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->listen_address, "127.0.0.1");
  EXPECT_EQ(cfg->listen_port, 0u);
  EXPECT_EQ(cfg->source_file, "");
  auto none = config_load("", {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("neither listen=YES nor listen_ipv6=YES"), std::string::npos);
}

TEST(ConfigLoad, OverrideErrorsNameTheOverride) {
  TempFile f("listen=YES\n");
  auto bad = config_load(f.path(), {"listen_port=2121", "listen=maybe"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "-o listen=maybe: bad boolean value 'maybe' for listen (use YES or NO)");
  auto twolines = config_load(f.path(), {"ftpd_banner=a\nlisten=NO"});
  ASSERT_FALSE(twolines.ok());
  EXPECT_EQ(twolines.error(), "-o ftpd_banner=a?listen=NO: line break inside a line");
  auto noeq = config_load(f.path(), {"listen"});
  ASSERT_FALSE(noeq.ok());
  EXPECT_EQ(noeq.error(), "-o listen: expected name=value, got 'listen'");
  auto off = config_load(f.path(), {"listen=NO"});
  ASSERT_FALSE(off.ok());
  EXPECT_EQ(off.error().rfind("-o listen=NO: neither listen=YES", 0), 0u) << off.error();
}

// A vsftpd option of a first-party module loads that module, even at its default, once.
TEST(ConfigLoad, VsftpdModuleOptionLoadsItsModule) {
  if (!built_module("mod_throttle")) GTEST_SKIP() << "modules are not built yet";
  TempFile f("listen=YES\nmax_clients=0\nanon_max_rate=1000\nmax_per_ip=2\n");
  auto cfg = config_load(f.path(), {"module_dir=" + kBuiltModules});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->load_module, (std::vector<std::string>{"mod_iplimit", "mod_throttle"}));
  EXPECT_EQ(cfg->notes, (std::vector<std::string>{f.path() + ":2: note: max_clients loads mod_iplimit",
                                                  f.path() + ":3: note: anon_max_rate loads mod_throttle"}));
  EXPECT_STREQ(module_option_text(*cfg, "max_per_ip", MOAT_OPT_UINT), "2");
  // With its load_module line there is nothing to note.
  auto named = config_load(f.path(), {"module_dir=" + kBuiltModules, "load_module=mod_iplimit"});
  ASSERT_TRUE(named.ok()) << named.error();
  EXPECT_EQ(named->notes.size(), 1u);
}

// The module's file is looked for where load_module would look, and a failure names the line.
TEST(ConfigLoad, ImpliedModuleMissingNamesTheOption) {
  TempFile f("listen=YES\nmax_per_ip=2\n");
  auto cfg = config_load(f.path(), {"module_dir=/nonexistent"});
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().rfind(f.path() + ":2 (max_per_ip): load_module=mod_iplimit: ", 0), 0u)
      << cfg.error();
}

// Modules are known before options are read, so the first line that needs one is named.
// (Options vsftpd does not have still need load_module.)
TEST(ConfigLoad, ModuleErrorNamesTheFirstAssignment) {
  TempFile f("listen=YES\nip_max_rate=1000\n#\nip_max_rate=2000\n");
  auto cfg = config_load(f.path(), {});
  ASSERT_FALSE(cfg.ok());
  // Every error, in the order of the lines (-t reports them all).
  EXPECT_EQ(cfg.error(), f.path() + ":2: ip_max_rate requires load_module=mod_throttle\n" +
                             f.path() + ":4: ip_max_rate requires load_module=mod_throttle");
  TempFile plain("listen=YES\n");
  auto ov = config_load(plain.path(), {"ip_max_rate=5"});
  ASSERT_FALSE(ov.ok());
  EXPECT_EQ(ov.error(), "-o ip_max_rate=5: ip_max_rate requires load_module=mod_throttle");
}

TEST(ConfigLoad, ModuleErrorNamesTheEarliestLine) {
  // server_max_rate's module comes first in the catalogue, login_ban_time first in the file.
  TempFile f("listen=YES\nlogin_ban_time=2\nserver_max_rate=3\n");
  auto cfg = config_load(f.path(), {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error(), f.path() + ":2: login_ban_time requires load_module=mod_iplimit\n" +
                             f.path() + ":3: server_max_rate requires load_module=mod_throttle");
}

TEST(ConfigLoad, LoadedModuleMustExistInModuleDir) {
  TempModuleDir dir;
  TempFile f("listen=YES\nload_module=mod_iplimit\nmax_clients=10\nmodule_dir=" + dir.path() +
             "\n");
  auto cfg = config_load(f.path(), {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error(), f.path() + ":2: load_module=mod_iplimit: " + dir.path() +
                             "/mod_iplimit.so: No such file or directory");
  dir.add_module("mod_iplimit");
  auto ok = config_load(f.path(), {});
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_STREQ(module_option_text(*ok, "max_clients", MOAT_OPT_UINT), "10");
  EXPECT_EQ(ok->load_module, std::vector<std::string>{"mod_iplimit"});
  ASSERT_TRUE(ok->modules);
  EXPECT_EQ(ok->modules->names(), std::vector<std::string>{"mod_iplimit"});
  EXPECT_EQ(ok->module_dir, dir.path());
}

TEST(ConfigLoad, ModuleThatIsNotARegularFile) {
  TempModuleDir dir;
  dir.add_directory("mod_throttle");
  auto cfg =
      config_load("", {"listen=YES", "module_dir=" + dir.path(), "load_module=mod_throttle"});
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error(), "-o load_module=mod_throttle: load_module=mod_throttle: " + dir.path() +
                             "/mod_throttle.so: not a regular file");
}

TEST(ConfigLoad, DuplicateLoadModuleNamesTheSecondLine) {
  TempFile f("listen=YES\nload_module=mod_iplimit\nload_module=mod_iplimit\n");
  auto cfg = config_load(f.path(), {});
  ASSERT_FALSE(cfg.ok());
  EXPECT_TRUE(cfg.error().starts_with(f.path() + ":3: load_module=mod_iplimit appears twice\n"))
      << cfg.error();
}

TEST(ConfigLoad, PassivePortRange) {
  TempFile good("listen=YES\npasv_min_port=50000\npasv_max_port=50010\n");
  ASSERT_TRUE(config_load(good.path(), {}).ok());
  TempFile same("listen=YES\npasv_min_port=50000\npasv_max_port=50000\n");
  ASSERT_TRUE(config_load(same.path(), {}).ok());
  TempFile only_min("listen=YES\npasv_min_port=50000\n");
  ASSERT_TRUE(config_load(only_min.path(), {}).ok());
  TempFile inverted("listen=YES\npasv_max_port=50000\npasv_min_port=50010\n");
  auto bad = config_load(inverted.path(), {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(),
            inverted.path() + ":3: pasv_min_port=50010 is greater than pasv_max_port=50000");
  TempFile high("listen=YES\npasv_max_port=70000\n");
  auto over = config_load(high.path(), {});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error(), high.path() + ":2: pasv_max_port=70000: a port must be at most 65535");
}

TEST(ConfigLoad, OctalInAFile) {
  TempFile f("listen=YES\nlocal_umask=022\nanon_umask=0\nfile_open_mode=0644\n");
  auto cfg = config_load(f.path(), {});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->local_umask, 022u);
  EXPECT_EQ(cfg->anon_umask, 0u);
  EXPECT_EQ(cfg->file_open_mode, 0644u);
  TempFile bad("listen=YES\nlocal_umask=0999\n");
  auto err = config_load(bad.path(), {});
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().rfind(bad.path() + ":2: bad number '0999' for local_umask", 0), 0u);
}

// ---- the seed configurations ------------------------------------------------

TEST(ConfigSeeds, RhelDefaultLoads) {
  auto cfg = config_load(seed("rhel-default.conf"), {});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_FALSE(cfg->listen);
  EXPECT_TRUE(cfg->listen_ipv6);
  EXPECT_TRUE(cfg->anonymous_enable);
  EXPECT_TRUE(cfg->local_enable);
  EXPECT_TRUE(cfg->write_enable);
  EXPECT_EQ(cfg->local_umask, 022u);
  EXPECT_TRUE(cfg->userlist_enable);
  EXPECT_TRUE(cfg->tcp_wrappers);
  EXPECT_EQ(cfg->pam_service_name, "vsftpd");
  EXPECT_TRUE(cfg->load_module.empty());
}

TEST(ConfigSeeds, CloudPassiveLoads) {
  auto cfg = config_load(seed("cloud-passive.conf"), {});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_TRUE(cfg->listen);
  EXPECT_FALSE(cfg->anonymous_enable);
  EXPECT_EQ(cfg->listen_port, 21u);
  EXPECT_TRUE(cfg->pasv_enable);
  EXPECT_EQ(cfg->pasv_min_port, 50000u);
  EXPECT_EQ(cfg->pasv_max_port, 50010u);
  EXPECT_EQ(cfg->pasv_address, "203.0.113.10");
  EXPECT_TRUE(cfg->xferlog_enable);
  EXPECT_TRUE(cfg->xferlog_std_format);
  EXPECT_EQ(cfg->xferlog_file, "/var/log/vsftp.log");
  EXPECT_TRUE(cfg->connect_from_port_20);
  EXPECT_EQ(cfg->local_umask, 022u);
}

// Unchanged vsftpd.conf: its module options load mod_anon_upload and mod_iplimit.
TEST(ConfigSeeds, TutorialExercisesLoadTheirModulesByThemselves) {
  if (!built_module("mod_anon_upload")) GTEST_SKIP() << "mod_anon_upload is not built yet";
  const std::string path = seed("tutorial-exercises.conf");
  auto cfg = config_load(path, {"module_dir=" + kBuiltModules});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->load_module, (std::vector<std::string>{"mod_anon_upload", "mod_iplimit"}));
  EXPECT_EQ(cfg->notes.front(), path + ":24: note: anon_mkdir_write_enable loads mod_anon_upload");
}

TEST(ConfigSeeds, TutorialExercisesLoadWithTheirModules) {
  if (!built_module("mod_anon_upload")) GTEST_SKIP() << "mod_anon_upload is not built yet";
  TempModuleDir dir;
  dir.add_module("mod_iplimit");
  dir.add_module("mod_anon_upload");
  const std::string text = read_text(seed("tutorial-exercises.conf"));
  ASSERT_FALSE(text.empty());
  TempFile f("module_dir=" + dir.path() +
             "\nload_module=mod_iplimit\nload_module=mod_anon_upload\n" + text);
  auto cfg = config_load(f.path(), {});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_EQ(cfg->listen_port, 2121u);
  EXPECT_STREQ(module_option_text(*cfg, "max_clients", MOAT_OPT_UINT), "100");
  EXPECT_STREQ(module_option_text(*cfg, "max_per_ip", MOAT_OPT_UINT), "3");
  EXPECT_STREQ(module_option_text(*cfg, "anon_upload_enable", MOAT_OPT_BOOL), "YES");
  EXPECT_STREQ(module_option_text(*cfg, "anon_mkdir_write_enable", MOAT_OPT_BOOL), "YES");
  EXPECT_STREQ(module_option_text(*cfg, "anon_other_write_enable", MOAT_OPT_BOOL), "NO");
  EXPECT_STREQ(module_option_text(*cfg, "chown_uploads", MOAT_OPT_BOOL), "YES");
  EXPECT_STREQ(module_option_text(*cfg, "chown_username", MOAT_OPT_STRING), "ftpupload");
  EXPECT_STREQ(module_option_text(*cfg, "chown_upload_mode", MOAT_OPT_UINT), "0600");
  EXPECT_FALSE(cfg->userlist_deny);
  EXPECT_EQ(cfg->banner_file, "/etc/vsftpd/banner.txt");
  EXPECT_EQ(cfg->ftpd_banner, "Welcome to blah FTP service. SOLDESK");
  EXPECT_EQ(cfg->load_module, (std::vector<std::string>{"mod_iplimit", "mod_anon_upload"}));
  // The same with the module lines given as -o overrides.
  auto ov = config_load(
      seed("tutorial-exercises.conf"),
      {"module_dir=" + dir.path(), "load_module=mod_iplimit", "load_module=mod_anon_upload"});
  ASSERT_TRUE(ov.ok()) << ov.error();
  EXPECT_STREQ(module_option_text(*ov, "max_per_ip", MOAT_OPT_UINT), "3");
  // chown_upload_mode's range is mod_anon_upload's check hook's, naming the option's line.
  auto bad = config_load(seed("tutorial-exercises.conf"),
                         {"module_dir=" + dir.path(), "load_module=mod_iplimit",
                          "load_module=mod_anon_upload", "chown_upload_mode=01000"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("-o chown_upload_mode=01000: chown_upload_mode: a mode must be at "
                            "most 0777"),
            std::string::npos)
      << bad.error();
}

// ---- the sample ftpd.conf ------------------------------------------------------

std::string sample_conf() { return test_data_dir() + "/../../etc/ftpd.conf"; }

TEST(ConfigSample, LoadsWithSafeDefaults) {
  auto cfg = config_load(sample_conf(), {});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_TRUE(cfg->listen);
  EXPECT_FALSE(cfg->anonymous_enable);
  EXPECT_TRUE(cfg->local_enable);
  EXPECT_FALSE(cfg->write_enable);
  EXPECT_TRUE(cfg->chroot_local_user);
  EXPECT_FALSE(cfg->allow_writeable_chroot);
  EXPECT_TRUE(cfg->seccomp_sandbox);
  EXPECT_EQ(cfg->pam_service_name, "moatftpd");
  EXPECT_EQ(cfg->secure_chroot_dir, MOAT_DEFAULT_SECURE_CHROOT_DIR);
  EXPECT_TRUE(cfg->xferlog_enable);
  EXPECT_TRUE(cfg->xferlog_std_format);
  EXPECT_TRUE(cfg->load_module.empty());
}

TEST(ConfigSample, MentionsEveryOption) {
  const std::string text = read_text(sample_conf());
  ASSERT_FALSE(text.empty());
  for (const OptionInfo& info : option_table()) {
    EXPECT_NE(text.find(std::string(info.name) + "="), std::string::npos) << info.name;
    if (std::string_view(info.owner) != "core") {
      EXPECT_NE(text.find("load_module=" + std::string(info.owner)), std::string::npos)
          << info.owner;
    }
  }
  // The first-party modules' options, from their own tables.
  auto reg = ModuleRegistry::load(kBuiltModules, {{"mod_iplimit", "t"}, {"mod_anon_upload", "t"},
                                                  {"mod_throttle", "t"}});
  ASSERT_TRUE(reg.ok()) << reg.error();
  for (const ModuleOption& o : (*reg)->options()) {
    EXPECT_NE(text.find(std::string(o.def->name) + "=" + o.def->default_text), std::string::npos)
        << o.def->name;
    EXPECT_NE(text.find("load_module=" + std::string(o.module)), std::string::npos) << o.module;
  }
}

// ---- the man page ---------------------------------------------------------------

TEST(ConfigManPage, HasTheSectionsAndEveryOption) {
  const std::string page = config_man_page();
  EXPECT_EQ(page.rfind(".TH FTPD.CONF 5", 0), 0u);
  EXPECT_NE(page.find("\n.SH NAME\n"), std::string::npos);
  EXPECT_NE(page.find("\n.SH DESCRIPTION\n"), std::string::npos);
  EXPECT_NE(page.find("\n.SH OPTIONS\n"), std::string::npos);
  // The modules' section is added at build time (tools/module_man.cpp), from their .def
  // files: the server carries no module's options (test_modules.py checks the page).
  EXPECT_EQ(page.find("\n.SH MODULE OPTIONS\n"), std::string::npos);
  EXPECT_NE(page.find("\n.SH SEE ALSO\n.BR moatftpd (8)"), std::string::npos);
  for (const OptionInfo& info : option_table()) {
    EXPECT_NE(page.find("\n.TP\n\\fB" + std::string(info.name) + "\\fR ("), std::string::npos)
        << info.name;
  }
  EXPECT_NE(page.find("\\fBlisten\\fR (boolean, default \\fBNO\\fR)\n"), std::string::npos);
  EXPECT_NE(page.find("\\fBlocal_umask\\fR (octal number, default \\fB077\\fR)\n"),
            std::string::npos);
  EXPECT_NE(page.find("\\fBanon_root\\fR (string, default empty)\n"), std::string::npos);
  EXPECT_EQ(page.back(), '\n');
}

TEST(ConfigManPage, EveryRequestIsKnownAndTextIsEscaped) {
  const std::set<std::string> requests = {".TH", ".SH", ".TP", ".PP", ".B",
                                          ".BR", ".I",  ".IR", ".BI"};
  std::istringstream in(config_man_page());
  std::size_t entries = 0;
  for (std::string line; std::getline(in, line);) {
    ASSERT_FALSE(line.empty()) << "blank lines are not portable troff";
    EXPECT_NE(line.front(), '\'') << line;
    if (line.front() == '.') {
      const std::string req = line.substr(0, line.find(' '));
      EXPECT_TRUE(requests.count(req)) << line;
      entries += req == ".TP";
    }
    // A lone backslash would start an unknown escape; every one must be a known escape.
    for (std::size_t i = line.find('\\'); i != std::string::npos; i = line.find('\\', i + 2)) {
      ASSERT_LT(i + 1, line.size()) << line;
      EXPECT_NE(std::string("efB&-%").find(line[i + 1]), std::string::npos) << line;
    }
  }
  EXPECT_EQ(entries, option_table().size());
}

// ---- per-user files (user_config_dir) -------------------------------------

TEST(ConfigUserFile, AppliesLinesAndAMissingFileIsNoError) {
  Config cfg;
  cfg.write_enable = true;
  ASSERT_TRUE(config_apply_user_file(cfg, "/nonexistent-moat-user-dir/alice").ok());
  ASSERT_TRUE(config_apply_user_file(cfg, "/etc/passwd/not-a-dir").ok());
  EXPECT_TRUE(cfg.write_enable);
  TempFile f("# alice\nwrite_enable=NO\r\nlocal_umask=027\n\nlocal_root=/srv/alice\n");
  ASSERT_TRUE(config_apply_user_file(cfg, f.path()).ok());
  EXPECT_FALSE(cfg.write_enable);
  EXPECT_EQ(cfg.local_umask, 027u);
  EXPECT_EQ(cfg.local_root, "/srv/alice");
  EXPECT_EQ(cfg.anon_umask, 077u);  // untouched
}

TEST(ConfigUserFile, MasterOnlyOptionsAreRefusedWithFileAndLine) {
  for (const std::string name :
       {"listen", "listen_ipv6", "listen_port", "listen_address", "load_module", "module_dir",
        "max_clients", "max_per_ip", "pasv_address", "ftp_data_port", "implicit_ssl",
        "rsa_cert_file", "ssl_enable", "ssl_ciphers", "nopriv_user", "secure_chroot_dir",
        "user_config_dir", "background"}) {
    TempFile f("write_enable=NO\n" + name + "=1\n");
    Config cfg;
    cfg.write_enable = true;
    Status st = config_apply_user_file(cfg, f.path());
    ASSERT_FALSE(st.ok()) << name;
    EXPECT_EQ(st.error(), f.path() + ":2: " + name + " cannot be set per user");
    EXPECT_TRUE(cfg.write_enable) << "cfg changed although the file was refused";
  }
  // Per-session options that merely look alike are fine.
  TempFile ok("force_local_data_ssl=NO\npasv_enable=NO\n");
  Config cfg;
  ASSERT_TRUE(config_apply_user_file(cfg, ok.path()).ok());
  EXPECT_FALSE(cfg.pasv_enable);
}

TEST(ConfigUserFile, BadLinesGiveFileLineErrorsAndLeaveCfgAlone) {
  Config cfg;
  TempFile bad_bool("local_umask=022\nwrite_enable=maybe\n");
  Status st = config_apply_user_file(cfg, bad_bool.path());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), bad_bool.path() + ":2: bad boolean value 'maybe' for write_enable (use YES or NO)");
  EXPECT_EQ(cfg.local_umask, 077u);
  TempFile unknown("frobnicate=1\n");
  st = config_apply_user_file(cfg, unknown.path());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), unknown.path() + ":1: unknown option 'frobnicate'");
  TempFile no_eq("\n\nwrite_enable\n");
  st = config_apply_user_file(cfg, no_eq.path());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), no_eq.path() + ":3: expected name=value, got 'write_enable'");
  TempFile spaced(" listen=YES\n");  // not taken for listen: whitespace is an error
  st = config_apply_user_file(cfg, spaced.path());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), spaced.path() + ":1: whitespace before option name ' listen' is not allowed");
  // A module's option without its module, and a directory instead of a file.
  TempFile rate("anon_max_rate=1000\n");
  st = config_apply_user_file(cfg, rate.path());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), rate.path() + ":1: anon_max_rate requires load_module=mod_throttle");
  st = config_apply_user_file(cfg, "/tmp");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().rfind("/tmp: ", 0), 0u) << st.error();
}

TEST(ConfigUserFile, PassivePortRangeStaysOrdered) {
  Config cfg;
  cfg.pasv_min_port = 5000;
  cfg.pasv_max_port = 5100;
  TempFile f("pasv_min_port=6000\n");
  Status st = config_apply_user_file(cfg, f.path());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), f.path() + ":1: pasv_min_port=6000 is greater than pasv_max_port=5100");
  EXPECT_EQ(cfg.pasv_min_port, 5000u);
  TempFile both("pasv_min_port=6000\npasv_max_port=6100\n");
  ASSERT_TRUE(config_apply_user_file(cfg, both.path()).ok());
  EXPECT_EQ(cfg.pasv_min_port, 6000u);
}

TEST(ConfigUserFile, LoadedModulesOptionsPerUser) {
  if (!built_module("mod_throttle")) GTEST_SKIP() << "mod_throttle is not built";
  auto cfg = config_load("", {"listen=YES", "module_dir=" + kBuiltModules,
                              "load_module=mod_throttle", "local_max_rate=1000"});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  TempFile f("local_max_rate=5000\nip_max_rate=0100\n");
  ASSERT_TRUE(config_apply_user_file(*cfg, f.path()).ok());
  EXPECT_STREQ(module_option_text(*cfg, "local_max_rate", MOAT_OPT_UINT), "5000");
  EXPECT_STREQ(module_option_text(*cfg, "ip_max_rate", MOAT_OPT_UINT), "0100");
  TempFile bad("local_max_rate=fast\n");
  Status st = config_apply_user_file(*cfg, bad.path());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().rfind(bad.path() + ":1: bad number 'fast' for local_max_rate", 0), 0u)
      << st.error();
  EXPECT_STREQ(module_option_text(*cfg, "local_max_rate", MOAT_OPT_UINT), "5000");
}

}  // namespace
}  // namespace moat
