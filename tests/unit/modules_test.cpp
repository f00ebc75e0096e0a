// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for core/modules and core/module_host: the loader's checks (one broken module
// per case from tests/modules/mod_t_variants.so), option tables in the config, the
// host table, the master hooks, and mod_iplimit's counting and bans.
#include "core/host/modules.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "core/common/config.hpp"
#include "core/host/module_host.hpp"

#ifndef MOAT_TEST_BUILD_DIR
#define MOAT_TEST_BUILD_DIR "."
#endif

namespace moat {
namespace {

namespace fs = std::filesystem;

const std::string kBuild = MOAT_TEST_BUILD_DIR;
const std::string kVariants = kBuild + "/tests/modules/mod_t_variants.so";
const std::string kModules = kBuild + "/modules";

// A module_dir under /tmp, removed at the end of the test.
class ModuleDir {
 public:
  ModuleDir() {
    char name[] = "/tmp/moat-modules-XXXXXX";
    EXPECT_NE(::mkdtemp(name), nullptr);
    path_ = name;
  }
  ~ModuleDir() { fs::remove_all(path_); }
  ModuleDir(const ModuleDir&) = delete;
  ModuleDir& operator=(const ModuleDir&) = delete;

  // NAME.so -> the variants object, so the loader looks for moat_module_NAME in it.
  void link(const std::string& name, const std::string& target = kVariants) {
    fs::create_symlink(target, so(name));
  }
  void copy(const std::string& name, const std::string& from, fs::perms mode) {
    fs::copy_file(from, so(name));
    fs::permissions(so(name), mode);
  }
  std::string so(const std::string& name) const { return path_ + "/" + name + ".so"; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Result<std::shared_ptr<ModuleRegistry>> load(const ModuleDir& dir,
                                             std::vector<std::string> names) {
  std::vector<ModuleRequest> req;
  for (auto& n : names) req.push_back({n, "test.conf:" + std::to_string(req.size() + 1)});
  return ModuleRegistry::load(dir.path(), req);
}

// The reason a single broken module `name` is refused, with the prefix checked.
std::string refusal(const std::string& name) {
  ModuleDir dir;
  dir.link(name);
  auto reg = load(dir, {name});
  if (reg.ok()) return "(loaded)";
  const std::string prefix = "test.conf:1: load_module=" + name + ": " + dir.so(name) + ": ";
  EXPECT_EQ(reg.error().rfind(prefix, 0), 0u) << reg.error();
  return reg.error().substr(std::min(prefix.size(), reg.error().size()));
}

TEST(ModuleLoader, GoodModuleAndItsOptions) {
  ModuleDir dir;
  dir.link("mod_t_good");
  auto reg = load(dir, {"mod_t_good"});
  ASSERT_TRUE(reg.ok()) << reg.error();
  EXPECT_EQ((*reg)->names(), std::vector<std::string>{"mod_t_good"});
  ASSERT_EQ((*reg)->options().size(), 3u);
  const ModuleOption* count = (*reg)->find_option("t_count");
  ASSERT_NE(count, nullptr);
  EXPECT_STREQ(count->module, "mod_t_good");
  EXPECT_EQ(count->def->type, MOAT_OPT_UINT);
  EXPECT_STREQ(count->def->default_text, "7");
  EXPECT_EQ((*reg)->find_option("listen"), nullptr);  // read by the module, not its own
  EXPECT_EQ((*reg)->find_option("t_"), nullptr);
}

// ABI v2: the loader writes each entry's handle into the module (entry i: i + 1), the
// core option it reads included.
TEST(ModuleLoader, OptionTableIsResolvedToHandles) {
  ModuleDir dir;
  dir.link("mod_t_good");
  auto reg = load(dir, {"mod_t_good"});
  ASSERT_TRUE(reg.ok()) << reg.error();
  void* so = dlopen(dir.so("mod_t_good").c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(so, nullptr);
  const auto* def = static_cast<const moat_module*>(dlsym(so, "moat_module_mod_t_good"));
  ASSERT_NE(def, nullptr);
  for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(*def->options[i].handle, i + 1) << i;
  dlclose(so);
}

// An option the module names but the host cannot give it is a load error, never a 0
// at run time: a core option that does not exist, one of another type, no handle.
TEST(ModuleLoader, UnresolvableOptionsAreLoadErrors) {
  EXPECT_EQ(refusal("mod_t_unknowncore"), "no core option 'no_such_core_option'");
  EXPECT_EQ(refusal("mod_t_wrongcore"),
            "core option 'listen_port' is not of the type the module reads it as");
  EXPECT_EQ(refusal("mod_t_nohandle"), "option 't_h' has no handle");
}

// A module built against the version 1 header is refused, naming both versions.
TEST(ModuleLoader, AVersion1ModuleIsRefusedWithTheVersions) {
  EXPECT_EQ(refusal("mod_t_v1"), "built for module ABI version 1 (this server has 2): "
                                 "rebuild it against this server's moat_module.h");
}

TEST(ModuleLoader, FileProblems) {
  ModuleDir dir;
  auto missing = load(dir, {"mod_none"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), "test.conf:1: load_module=mod_none: " + dir.so("mod_none") +
                                 ": No such file or directory");
  fs::create_directory(dir.so("mod_dir"));
  auto directory = load(dir, {"mod_dir"});
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error(),
            "test.conf:1: load_module=mod_dir: " + dir.so("mod_dir") + ": not a regular file");
  { std::ofstream(dir.so("mod_empty")).flush(); }
  fs::permissions(dir.so("mod_empty"), fs::perms(0644));
  auto empty = load(dir, {"mod_empty"});
  ASSERT_FALSE(empty.ok());
  // dlopen's own words, without the path said twice.
  const std::string prefix = "test.conf:1: load_module=mod_empty: " + dir.so("mod_empty") + ": ";
  EXPECT_EQ(empty.error().rfind(prefix, 0), 0u) << empty.error();
  EXPECT_EQ(empty.error().find(dir.so("mod_empty"), prefix.size()), std::string::npos);
  EXPECT_NE(empty.error().find("too short"), std::string::npos) << empty.error();
}

TEST(ModuleLoader, RefusesFilesOthersCanWrite) {
  ModuleDir dir;
  dir.copy("mod_t_good", kVariants, fs::perms(0666));
  auto reg = load(dir, {"mod_t_good"});
  ASSERT_FALSE(reg.ok());
  EXPECT_NE(reg.error().find(": writable by group or others"), std::string::npos) << reg.error();
  fs::permissions(dir.so("mod_t_good"), fs::perms(0755));
  EXPECT_TRUE(load(dir, {"mod_t_good"}).ok());
}

TEST(ModuleLoader, HeaderChecks) {
  EXPECT_EQ(refusal("mod_t_missing"),
            "no symbol moat_module_mod_t_missing (not a moatftpd module?)");
  EXPECT_EQ(refusal("mod_t_badabi"), "built for module ABI version 99 (this server has 2): "
                                     "rebuild it against this server's moat_module.h");
  EXPECT_EQ(refusal("mod_t_small"), "struct moat_module is 16 bytes, expected at least " +
                                        std::to_string(sizeof(moat_module)));
  EXPECT_EQ(refusal("mod_t_badname"), "module calls itself 'mod_t_other', expected 'mod_t_badname'");
  EXPECT_EQ(refusal("mod_t_reserved"), "reserved field 3 is not zero");
  EXPECT_EQ(refusal("mod_t_badverb"), "bad preauth command 'site x'");
}

TEST(ModuleLoader, OptionTableChecks) {
  EXPECT_EQ(refusal("mod_t_dupopt"), "option 't_a' twice");
  EXPECT_EQ(refusal("mod_t_coreopt"), "option 'listen_port' is a core option");
  EXPECT_EQ(refusal("mod_t_firstparty"), "option 'max_clients' belongs to mod_iplimit");
  EXPECT_EQ(refusal("mod_t_baddefault"),
            "option 't_b': bad boolean value 'maybe' for t_b (use YES or NO)");
  EXPECT_EQ(refusal("mod_t_badnumber").rfind("option 't_n': bad number '12x' for t_n", 0), 0u);
  EXPECT_EQ(refusal("mod_t_badtype"), "option 't_t': unknown type 7");
  EXPECT_EQ(refusal("mod_t_badoptname"), "bad option name 'Bad-Name'");
  EXPECT_EQ(refusal("mod_t_nodesc"), "option 't_d' has no one-line description");
}

TEST(ModuleLoader, OptionClashBetweenModulesNamesTheSecondLine) {
  ModuleDir dir;
  dir.link("mod_t_good");
  dir.link("mod_t_clash");
  auto reg = load(dir, {"mod_t_good", "mod_t_clash"});
  ASSERT_FALSE(reg.ok());
  EXPECT_EQ(reg.error(), "test.conf:2: load_module=mod_t_clash: " + dir.so("mod_t_clash") +
                             ": option 't_flag' is also an option of mod_t_good");
}

TEST(ModuleLoader, InitFailureStopsStartUp) {
  ModuleDir dir;
  dir.link("mod_t_good");
  dir.link("mod_t_initfail");
  auto reg = load(dir, {"mod_t_good", "mod_t_initfail"});
  ASSERT_TRUE(reg.ok()) << reg.error();
  Config cfg;
  Status st = (*reg)->init(cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), "mod_t_initfail: init failed (5)");
}

// The check hooks (-t, start-up, reload): an error names where the option was set.
TEST(ModuleConfig, CheckErrorsNameTheOptionsLine) {
  ModuleDir dir;
  dir.link("mod_t_good");
  const std::vector<std::string> base = {"listen=YES", "module_dir=" + dir.path(),
                                         "load_module=mod_t_good"};
  auto ok = config_load("", base);
  ASSERT_TRUE(ok.ok()) << ok.error();
  auto with = [&](const char* line) {
    auto v = base;
    v.push_back(line);
    return config_load("", v);
  };
  auto bad = with("t_count=13");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), "-o t_count=13: t_count: unlucky");
  auto silent = with("t_count=14");
  ASSERT_FALSE(silent.ok());
  EXPECT_EQ(silent.error(), "-o load_module=mod_t_good: mod_t_good: check failed");
}

// The names the core knows from the .def files are exactly the built modules' tables.
TEST(ModuleCatalog, FirstPartyOwnersMatchTheBuiltModules) {
  for (const char* module : {"mod_iplimit", "mod_anon_upload", "mod_throttle"}) {
    auto reg = ModuleRegistry::load(kModules, {{module, "test"}});
    ASSERT_TRUE(reg.ok()) << reg.error();
    std::set<std::string> from_module, from_catalog;
    for (const ModuleOption& o : (*reg)->options()) from_module.insert(o.def->name);
    for (const FirstPartyOwner& o : first_party_owners())
      if (std::string_view(o.module) == module) from_catalog.insert(o.option);
    EXPECT_EQ(from_module, from_catalog) << module;
  }
  EXPECT_STREQ(first_party_owner("max_per_ip"), "mod_iplimit");
  EXPECT_EQ(first_party_owner("listen"), nullptr);
}

// ---- module options in the configuration -------------------------------------------

TEST(ModuleConfig, OptionsOfALoadedModuleParseByType) {
  ModuleDir dir;
  dir.link("mod_t_good");
  auto cfg = config_load("", {"listen=YES", "t_count=012", "t_flag=yes", "module_dir=" + dir.path(),
                              "load_module=mod_t_good"});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  ASSERT_TRUE(cfg->modules);
  EXPECT_EQ(cfg->modules->names(), std::vector<std::string>{"mod_t_good"});
  EXPECT_STREQ(module_option_text(*cfg, "t_count", MOAT_OPT_UINT), "012");
  EXPECT_STREQ(module_option_text(*cfg, "t_flag", MOAT_OPT_BOOL), "yes");
  EXPECT_STREQ(module_option_text(*cfg, "t_text", MOAT_OPT_STRING), "hello");  // default
  EXPECT_EQ(module_option_text(*cfg, "t_text", MOAT_OPT_UINT), nullptr);        // wrong type
  EXPECT_EQ(module_option_text(*cfg, "listen", MOAT_OPT_BOOL), nullptr);        // core
  auto bad = config_load("", {"listen=YES", "module_dir=" + dir.path(), "load_module=mod_t_good",
                              "t_count=many"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().rfind("-o t_count=many: bad number 'many' for t_count", 0), 0u)
      << bad.error();
  auto badbool = config_load("", {"listen=YES", "module_dir=" + dir.path(),
                                  "load_module=mod_t_good", "t_flag=perhaps"});
  ASSERT_FALSE(badbool.ok());
  EXPECT_EQ(badbool.error(),
            "-o t_flag=perhaps: bad boolean value 'perhaps' for t_flag (use YES or NO)");
}

TEST(ModuleConfig, ModuleLinesAreReadFirst) {
  ModuleDir dir;
  dir.link("mod_t_good");
  char name[] = "/tmp/moat-modconf-XXXXXX";
  const int fd = mkstemp(name);
  ASSERT_GE(fd, 0);
  const std::string text = "listen=YES\nt_count=3\nload_module=mod_t_good\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  auto cfg = config_load(name, {"module_dir=" + dir.path()});
  unlink(name);
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  EXPECT_STREQ(module_option_text(*cfg, "t_count", MOAT_OPT_UINT), "3");
}

TEST(ModuleConfig, UnknownAndFirstPartyOptionsWithoutTheirModule) {
  auto third = config_load("", {"listen=YES", "t_count=3"});
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error(), "-o t_count=3: unknown option 't_count'");
  auto first = config_load("", {"listen=YES", "max_login_failures_per_ip=3"});
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error(),
            "-o max_login_failures_per_ip=3: max_login_failures_per_ip requires "
            "load_module=mod_iplimit");
}

TEST(ModuleConfig, LoadErrorsNameTheLoadModuleLine) {
  ModuleDir dir;
  dir.link("mod_t_badabi");
  auto cfg = config_load("", {"listen=YES", "module_dir=" + dir.path(), "load_module=mod_t_badabi"});
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error(), "-o load_module=mod_t_badabi: load_module=mod_t_badabi: " +
                             dir.so("mod_t_badabi") +
                             ": built for module ABI version 99 (this server has 2): rebuild "
                             "it against this server's moat_module.h");
}

// ---- the host table --------------------------------------------------------------------

// A module context made by hand: its resolved table, as the loader would make it.
class HostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.link("mod_t_good");
    auto cfg = config_load("", {"listen=YES", "listen_port=2121", "ftp_username=ftpx",
                                "module_dir=" + dir_.path(), "load_module=mod_t_good",
                                "t_count=0100", "t_flag=YES"});
    ASSERT_TRUE(cfg.ok()) << cfg.error();
    cfg_ = std::move(*cfg);
    state_.cfg = &cfg_;
    mc_.name = "mod_x";
    mc_.host = &state_;
    mc_.options = {{"t_flag", MOAT_OPT_BOOL, false, "NO"},
                   {"t_count", MOAT_OPT_UINT, false, "7"},
                   {"t_text", MOAT_OPT_STRING, false, "hello"},
                   {"listen_port", MOAT_OPT_UINT, true, nullptr},
                   {"listen", MOAT_OPT_BOOL, true, nullptr},
                   {"listen_ipv6", MOAT_OPT_BOOL, true, nullptr},
                   {"ftp_username", MOAT_OPT_STRING, true, nullptr}};
    ctx_ = module_ctx(mc_);
  }
  ModuleDir dir_;
  Config cfg_;
  ModuleHostState state_;
  ModuleContext mc_;
  moat_ctx ctx_{};
  const moat_ctx* c_ = &ctx_;
  const moat_host* h_ = module_host();
};

TEST_F(HostTest, StampsAndReservedFields) {
  EXPECT_EQ(h_->abi_version, MOAT_MODULE_ABI_VERSION);
  EXPECT_EQ(h_->struct_size, sizeof(moat_host));
  for (void* r : h_->reserved) EXPECT_EQ(r, nullptr);
  EXPECT_EQ(ctx_.host, h_);
  EXPECT_EQ(ctx_.state, nullptr);
}

TEST_F(HostTest, CoreAndModuleOptionsByHandle) {
  EXPECT_EQ(h_->opt_uint(c_, 4), 2121u);
  EXPECT_EQ(h_->opt_bool(c_, 5), 1);
  EXPECT_EQ(h_->opt_bool(c_, 6), 0);
  EXPECT_STREQ(h_->opt_string(c_, 7), "ftpx");
  EXPECT_EQ(h_->opt_uint(c_, 2), 0100u);  // octal, as every number in ftpd.conf
  EXPECT_EQ(h_->opt_bool(c_, 1), 1);
  EXPECT_STREQ(h_->opt_string(c_, 3), "hello");
}

TEST_F(HostTest, BadHandlesAndWrongTypesAreLoggedAndGiveZeroOrEmpty) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(h_->opt_uint(c_, 0), 0u);
  EXPECT_EQ(h_->opt_bool(c_, 99), 0);
  EXPECT_STREQ(h_->opt_string(c_, 99), "");
  EXPECT_EQ(h_->opt_uint(c_, 5), 0u);  // a boolean
  EXPECT_EQ(h_->opt_bool(c_, 2), 0);   // a number
  EXPECT_EQ(h_->opt_uint(nullptr, 4), 0u);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("mod_x: option read with an unknown handle 99"), std::string::npos) << err;
  EXPECT_NE(err.find("mod_x: option listen read as another type"), std::string::npos) << err;
}

TEST_F(HostTest, SharedMemoryOnlyDuringInit) {
  EXPECT_EQ(h_->shared_alloc(c_, 64), nullptr);
  state_.in_init = true;
  void* p = h_->shared_alloc(c_, 4096);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(static_cast<unsigned char*>(p)[4095], 0);  // zeroed
  EXPECT_EQ(h_->shared_alloc(c_, 0), nullptr);
  EXPECT_EQ(h_->shared_alloc(c_, (std::size_t{64} << 20) + 1), nullptr);
  EXPECT_EQ(h_->shared_alloc(nullptr, 64), nullptr);
  state_.in_init = false;
  EXPECT_EQ(h_->shared_alloc(c_, 64), nullptr);
}

TEST_F(HostTest, WorkerServicesFailOutsideAWorker) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(h_->privileged(c_, 1, "x", 1, -1), -1);
  h_->reply(c_, 200, "x");
  h_->rate_limit(c_, 1000);
  h_->check_error(c_, 1, "not now");
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("privileged is not available in this process"), std::string::npos) << err;
  EXPECT_NE(err.find("reply is not available in this process"), std::string::npos);
  EXPECT_NE(err.find("rate_limit is not available in this process"), std::string::npos);
  EXPECT_NE(err.find("check_error is not available here"), std::string::npos);
}

// The log line names the module from its context, whatever the message holds.
TEST_F(HostTest, LogIsOneSafeLine) {
  testing::internal::CaptureStderr();
  h_->log(c_, "two\nlines\x01");
  h_->log(nullptr, nullptr);
  h_->log(c_, std::string(5000, 'a').c_str());
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.rfind("moatftpd: mod_x: two?lines?\nmoatftpd: (no context): (null)\n", 0), 0u)
      << err;
  EXPECT_LT(err.size(), 1200u);
}

// ---- master hooks, with the real mod_iplimit and mod_hooktest ---------------------------

moat_conn conn_from(const char* ip, std::string& text) {
  moat_conn c{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&c.peer);
  sin->sin_family = AF_INET;
  inet_pton(AF_INET, ip, &sin->sin_addr);
  text = ip;
  c.peer_text = text.c_str();
  return c;
}

class IplimitTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> options) {
    options.insert(options.begin(),
                   {"listen=YES", "module_dir=" + kModules, "load_module=mod_iplimit"});
    auto cfg = config_load("", options);
    ASSERT_TRUE(cfg.ok()) << cfg.error();
    cfg_ = std::move(*cfg);
    ASSERT_TRUE(cfg_.modules->init(cfg_).ok());
  }
  // Admitted, or the reply it was refused with.
  std::string admit(const char* ip) {
    std::string text, reply;
    moat_conn c = conn_from(ip, text);
    return cfg_.modules->admit(c, reply) ? "admitted" : reply;
  }
  void closed(const char* ip) {
    std::string text;
    moat_conn c = conn_from(ip, text);
    cfg_.modules->session_closed(c);
  }
  void failed_login(const char* ip) {
    std::string text;
    moat_conn c = conn_from(ip, text);
    cfg_.modules->login_failed(c, "mallory");
  }
  Config cfg_;
};

constexpr char kTooMany[] = "421 There are too many connected users, please try later.";
constexpr char kTooManyFromIp[] = "421 There are too many connections from your internet address.";
constexpr char kBanned[] = "421 Too many failed logins from your internet address, please try later.";

TEST_F(IplimitTest, MaxClientsCountsEverySession) {
  start({"max_clients=2"});
  EXPECT_EQ(admit("10.0.0.1"), "admitted");
  EXPECT_EQ(admit("10.0.0.2"), "admitted");
  EXPECT_EQ(admit("10.0.0.3"), kTooMany);
  closed("10.0.0.1");
  EXPECT_EQ(admit("10.0.0.3"), "admitted");
  EXPECT_EQ(admit("10.0.0.4"), kTooMany);
}

TEST_F(IplimitTest, MaxPerIpCountsEachAddress) {
  start({"max_per_ip=2"});
  EXPECT_EQ(admit("10.0.0.1"), "admitted");
  EXPECT_EQ(admit("10.0.0.1"), "admitted");
  EXPECT_EQ(admit("10.0.0.1"), kTooManyFromIp);
  EXPECT_EQ(admit("10.0.0.2"), "admitted");
  closed("10.0.0.1");
  EXPECT_EQ(admit("10.0.0.1"), "admitted");
  EXPECT_EQ(admit("10.0.0.1"), kTooManyFromIp);
  closed("10.0.0.9");  // never admitted: changes nothing, breaks nothing
  EXPECT_EQ(admit("10.0.0.1"), kTooManyFromIp);
}

TEST_F(IplimitTest, NoLimitsByDefault) {
  start({});
  for (int i = 0; i < 50; ++i) ASSERT_EQ(admit("10.0.0.1"), "admitted");
  for (int i = 0; i < 20; ++i) failed_login("10.0.0.1");
  EXPECT_EQ(admit("10.0.0.1"), "admitted");  // bans are off by default
}

TEST_F(IplimitTest, BanAfterFailedLoginsThenExpiry) {
  testing::internal::CaptureStderr();
  start({"max_login_failures_per_ip=3", "login_failure_window=60", "login_ban_time=1"});
  failed_login("10.0.0.1");
  failed_login("10.0.0.1");
  EXPECT_EQ(admit("10.0.0.1"), "admitted");
  failed_login("10.0.0.1");
  EXPECT_EQ(admit("10.0.0.1"), kBanned);
  EXPECT_EQ(admit("10.0.0.2"), "admitted");  // another address is not affected
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("moatftpd: mod_iplimit: banned 10.0.0.1 for 1 s after 3 failed logins "
                     "within 60 s (last user 'mallory')\n"),
            std::string::npos)
      << err;
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(admit("10.0.0.1"), "admitted");
}

TEST_F(IplimitTest, FailuresOutsideTheWindowDoNotBan) {
  start({"max_login_failures_per_ip=2", "login_failure_window=1", "login_ban_time=60"});
  failed_login("10.0.0.1");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  failed_login("10.0.0.1");
  EXPECT_EQ(admit("10.0.0.1"), "admitted");
}

// A refusal by a later module gives session_closed to the modules that had admitted,
// so mod_iplimit's count does not leak; and a refusal is made into one safe line.
TEST(ModuleHooks, RefusalByALaterModuleUndoesEarlierAdmissions) {
  auto cfg = config_load("", {"listen=YES", "module_dir=" + kModules, "load_module=mod_iplimit",
                              "load_module=mod_hooktest", "max_clients=1",
                              "hooktest_admit_reply=go away\rSITE EXEC"});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  ASSERT_TRUE(cfg->modules->init(*cfg).ok());
  std::string text, reply;
  moat_conn c = conn_from("10.0.0.1", text);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(cfg->modules->admit(c, reply));
    EXPECT_EQ(reply, "421 go away");  // not mod_iplimit's 421: its count went back to 0
  }
}

TEST(ModuleHooks, ACodedRefusalIsKept) {
  auto cfg = config_load("", {"listen=YES", "module_dir=" + kModules, "load_module=mod_hooktest",
                              "hooktest_admit_reply=530 Not\x01 you."});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  ASSERT_TRUE(cfg->modules->init(*cfg).ok());
  std::string text, reply;
  moat_conn c = conn_from("10.0.0.1", text);
  EXPECT_FALSE(cfg->modules->admit(c, reply));
  EXPECT_EQ(reply, "530 Not? you.");
}

}  // namespace
}  // namespace moat
