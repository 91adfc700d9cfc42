// bench_api: whole-system figures for the federation-apiserver over loopback HTTP/1.1.
//
//   bench_api --server http(s)://127.0.0.1:PORT [--seconds N] [--phases all|get]
//             [--cacert CA --token T | --cert CRT --key KEY] [--admin-token T] [--bindings N]
//
// Over https the client verifies the server against --cacert (TLS 1.2+, OpenSSL) and sends
// either a bearer token (--token) or a client certificate (--cert/--key) on every measured
// request; fixtures are written with --admin-token (default: --token) on connections without
// a client certificate, so a certificate user need not be allowed to write. With --bindings N
// the fixtures also hold N RoleBindings in namespace bench for other users, as a busy
// federation would, so RBAC evaluates against them. With --server-pid the closed loop also
// reports the server's CPU time per request (from /proc; the steadiest figure on a shared
// machine, where the load generator competes with the server for the same cores), with
// --store-pids the same for the store's processes (a local etcd's members), and, when the
// server's /metrics count consistent-read rounds (etcd), rounds/s and reads per round.
//
// Runs, against a server it does not start (bench/federation-apiserver/run.sh starts one):
//   1. GET by name, closed loop over K keep-alive connections: max requests/s;
//   2. GET by name, open loop at a fixed offered rate (1,000 req/s): p50/p99 latency measured
//      from each request's *scheduled* send time, so a stall is not hidden (no coordinated
//      omission);
//   3. LIST of 1,000 objects: requests/s and p99, as it is and gzip-encoded, with the
//      collection unchanged and with 10 updates/s to it;
//   4. durable CREATE (each acknowledged only after SQLite's fsync): creates/s;
//   5. watch fan-out: W watch streams open, one update, time until every watcher has the
//      MODIFIED event (max and p99 over watchers);
//   6. GET by name at 1,000 req/s offered during a storm of S watches that never read
//      (--storm-watchers, default 200, 0 skips it): each asks for the 1,000 objects' initial
//      ADDED events and then gets every update of a 20 KB object written 50 times a second,
//      so their backlogs hit the server's watch budgets while the GETs are timed.
// Every phase is bounded in time and count and the program exits by itself.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::microseconds;

int g_port = 0;
int g_server_pid = 0;  // --server-pid: report the server's CPU time per request

std::vector<int> g_store_pids;  // --store-pids: the store's processes (etcd), CPU per request

// A process's CPU time so far (user + system, all threads), in seconds; 0 when unknown.
double CpuSeconds(int pid) {
  if (pid <= 0) return 0;
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return 0;
  char buf[4096];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // Fields after the ")" closing the command name: state is field 3, utime 14, stime 15.
  const char* p = std::strrchr(buf, ')');
  if (!p) return 0;
  unsigned long long utime = 0, stime = 0;
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
      2) {
    return 0;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}
double ServerCpuSeconds() { return CpuSeconds(g_server_pid); }
double StoreCpuSeconds() {
  double sum = 0;
  for (int pid : g_store_pids) sum += CpuSeconds(pid);
  return sum;
}
// TLS: null for plain HTTP. g_ctx presents the client certificate (if any); g_admin_ctx never
// does, so the admin token authenticates the fixture writes.
SSL_CTX* g_ctx = nullptr;
SSL_CTX* g_admin_ctx = nullptr;
std::string g_auth;        // "Authorization: Bearer ...\r\n" for measured requests, or empty
std::string g_admin_auth;  // the same for fixture writes

// One keep-alive connection, plain or TLS.
struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  bool ok() const { return fd >= 0; }
  void Close() {
    if (ssl) SSL_free(ssl);
    if (fd >= 0) close(fd);
    fd = -1;
    ssl = nullptr;
  }
  ssize_t Read(char* p, size_t n) {
    if (!ssl) return read(fd, p, n);
    int r = SSL_read(ssl, p, static_cast<int>(n));
    return r > 0 ? r : -1;
  }
  ssize_t Write(const char* p, size_t n) {
    if (!ssl) return write(fd, p, n);
    int r = SSL_write(ssl, p, static_cast<int>(n));
    return r > 0 ? r : -1;
  }
  // Bytes already decrypted and buffered (poll() cannot see them).
  bool Pending() const { return ssl && SSL_pending(ssl) > 0; }
};

SSL_CTX* NewClientContext(const std::string& ca, const std::string& cert, const std::string& key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
    std::fprintf(stderr, "bench_api: --cacert %s: cannot load\n", ca.c_str());
    std::exit(2);
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx), "127.0.0.1");
  if (!cert.empty() && (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 ||
                        SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)) {
    std::fprintf(stderr, "bench_api: --cert %s / --key %s: cannot load\n", cert.c_str(),
                 key.c_str());
    std::exit(2);
  }
  return ctx;
}

Conn ConnectWith(SSL_CTX* ctx) {
  Conn c;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(g_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return c;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c.fd = fd;
  if (ctx) {
    c.ssl = SSL_new(ctx);
    SSL_set_fd(c.ssl, fd);
    if (SSL_connect(c.ssl) != 1) {
      ERR_print_errors_fp(stderr);
      c.Close();
    }
  }
  return c;
}

Conn Connect() { return ConnectWith(g_ctx); }

bool WriteAll(Conn& fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = fd.Write(s.data() + off, s.size() - off);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// The size of the last Content-Length body this thread read (what went over the wire: a
// gzip-encoded body is counted, and not decoded, as received).
thread_local size_t t_last_body_bytes = 0;
// When set, ReadResponse copies the body there (as received: chunk-size lines included).
thread_local std::string* t_keep_body = nullptr;

// Reads one HTTP response (Content-Length or chunked body); returns the status code, or -1.
int ReadResponse(Conn& fd, std::string& buf) {
  size_t header_end;
  while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
    char tmp[65536];
    ssize_t n = fd.Read(tmp, sizeof tmp);
    if (n <= 0) return -1;
    buf.append(tmp, static_cast<size_t>(n));
  }
  int code = std::atoi(buf.c_str() + 9);
  std::string headers = buf.substr(0, header_end);
  for (char& c : headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t body_start = header_end + 4;
  auto fill = [&](size_t need) {
    while (buf.size() < need) {
      char tmp[65536];
      ssize_t n = fd.Read(tmp, sizeof tmp);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
    }
    return true;
  };
  size_t cl = headers.find("content-length:");
  if (cl != std::string::npos) {
    size_t len = std::strtoul(headers.c_str() + cl + 15, nullptr, 10);
    t_last_body_bytes = len;
    if (!fill(body_start + len)) return -1;
    if (t_keep_body != nullptr) *t_keep_body = buf.substr(body_start, len);
    buf.erase(0, body_start + len);
    return code;
  }
  // Chunked.
  size_t pos = body_start;
  while (true) {
    size_t eol;
    while ((eol = buf.find("\r\n", pos)) == std::string::npos) {
      if (!fill(buf.size() + 1)) return -1;
    }
    size_t len = std::strtoul(buf.c_str() + pos, nullptr, 16);
    if (!fill(eol + 2 + len + 2)) return -1;
    pos = eol + 2 + len + 2;
    if (len == 0) break;
  }
  if (t_keep_body != nullptr) *t_keep_body = buf.substr(body_start, pos - body_start);
  buf.erase(0, pos);
  return code;
}

std::string Request(const std::string& method, const std::string& path,
                    const std::string& body = "", const std::string& auth = g_auth) {
  std::string r =
      method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n" + auth;
  if (!body.empty()) {
    r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + body;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  return v[i];
}

std::string Secret(const std::string& name, int payload_bytes = 200) {
  return R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")" + name +
         R"(","namespace":"bench","labels":{"app":"bench"}},"stringData":{"v":")" +
         std::string(static_cast<size_t>(payload_bytes), 'x') + R"("}})";
}

// One synchronous request on a fresh or kept connection.
int Call(Conn& fd, std::string& buf, const std::string& req) {
  if (!fd.ok()) fd = Connect();
  if (!fd.ok() || !WriteAll(fd, req)) return -1;
  return ReadResponse(fd, buf);
}

struct Figure {
  std::string name;
  double value;
  std::string unit;
};
std::vector<Figure> g_figures;

void Report(const std::string& name, double value, const std::string& unit) {
  std::printf("%-44s %12.1f %s\n", name.c_str(), value, unit.c_str());
  std::fflush(stdout);
  g_figures.push_back({name, value, unit});
}

// The sum of a counter's samples on the server's /metrics (every label set); -1 if unreadable.
double MetricSum(const std::string& name) {
  Conn fd;
  std::string buf, body;
  t_keep_body = &body;
  const int code = Call(fd, buf, Request("GET", "/metrics", "", g_admin_auth));
  t_keep_body = nullptr;
  fd.Close();
  if (code != 200) return -1;
  double sum = 0;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find('\n', pos);
    if (eol == std::string::npos) eol = body.size();
    const std::string line = body.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.compare(0, name.size(), name) != 0 || line.size() <= name.size() ||
        (line[name.size()] != '{' && line[name.size()] != ' ')) {
      continue;
    }
    sum += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return sum;
}

// Closed loop: `conns` threads each issue requests back to back for `seconds`.
void ClosedLoop(const std::string& label, const std::string& req, int conns, double seconds) {
  std::atomic<long> done{0};
  std::vector<std::vector<double>> lat(static_cast<size_t>(conns));
  std::atomic<size_t> body_bytes{0};
  auto end = Clock::now() + duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const double cpu0 = ServerCpuSeconds();
  const double store_cpu0 = StoreCpuSeconds();
  // Consistent reads on several writers (etcd) wait for rounds of the cache; how many share one.
  const double rounds0 = MetricSum("meridian_watch_cache_consistent_read_rounds_total");
  const double readers0 = MetricSum("meridian_watch_cache_consistent_reads_total");
  std::vector<std::thread> ts;
  for (int c = 0; c < conns; ++c) {
    ts.emplace_back([&, c] {
      Conn fd;
      std::string buf;
      while (Clock::now() < end) {
        auto t0 = Clock::now();
        if (Call(fd, buf, req) != 200) break;
        lat[static_cast<size_t>(c)].push_back(duration_cast<microseconds>(Clock::now() - t0).count() / 1000.0);
        ++done;
        body_bytes = t_last_body_bytes;
      }
      fd.Close();
    });
  }
  for (auto& t : ts) t.join();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  const double cpu = ServerCpuSeconds() - cpu0;
  const double store_cpu = StoreCpuSeconds() - store_cpu0;
  const double rounds = MetricSum("meridian_watch_cache_consistent_read_rounds_total") - rounds0;
  const double readers = MetricSum("meridian_watch_cache_consistent_reads_total") - readers0;
  Report(label + " throughput", static_cast<double>(done) / seconds, "req/s");
  Report(label + " p99 (closed loop)", Percentile(all, 99), "ms");
  if (g_server_pid > 0 && done > 0) {
    Report(label + " server CPU per request", cpu * 1e6 / static_cast<double>(done), "us");
  }
  if (!g_store_pids.empty() && done > 0) {
    Report(label + " store CPU per request", store_cpu * 1e6 / static_cast<double>(done), "us");
  }
  if (rounds0 >= 0 && readers0 >= 0 && rounds > 0 && readers > 0) {
    Report(label + " consistent-read rounds", rounds / seconds, "/s");
    Report(label + " consistent reads per round", readers / rounds, "");
  }
  Report(label + " response body", static_cast<double>(body_bytes) / 1024.0, "KiB");
}

// Open loop at `rate` req/s over `conns` connections; latency from the scheduled send time.
void OpenLoop(const std::string& label, const std::string& req, double rate, int conns,
              double seconds) {
  std::vector<std::vector<double>> lat(static_cast<size_t>(conns));
  std::atomic<long> errors{0};
  auto start = Clock::now() + std::chrono::milliseconds(50);
  long total = static_cast<long>(rate * seconds);
  std::vector<std::thread> ts;
  for (int c = 0; c < conns; ++c) {
    ts.emplace_back([&, c] {
      Conn fd;
      std::string buf;
      // Connection c sends requests c, c+conns, c+2*conns, ... at their scheduled times.
      for (long i = c; i < total; i += conns) {
        auto scheduled = start + duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(static_cast<double>(i) / rate));
        std::this_thread::sleep_until(scheduled);
        if (Call(fd, buf, req) != 200) {
          ++errors;
          continue;
        }
        lat[static_cast<size_t>(c)].push_back(
            duration_cast<microseconds>(Clock::now() - scheduled).count() / 1000.0);
      }
      fd.Close();
    });
  }
  for (auto& t : ts) t.join();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  char name[128];
  std::snprintf(name, sizeof name, "%s at %.0f req/s offered", label.c_str(), rate);
  Report(std::string(name) + " p50", Percentile(all, 50), "ms");
  Report(std::string(name) + " p99", Percentile(all, 99), "ms");
  if (errors) Report(std::string(name) + " errors", static_cast<double>(errors), "requests");
}

void Creates(int conns, double seconds) {
  std::atomic<long> done{0};
  auto end = Clock::now() + duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> ts;
  for (int c = 0; c < conns; ++c) {
    ts.emplace_back([&, c] {
      Conn fd;
      std::string buf;
      for (int i = 0; Clock::now() < end; ++i) {
        std::string name = "c" + std::to_string(c) + "-" + std::to_string(i);
        if (Call(fd, buf, Request("POST", "/api/v1/namespaces/bench/secrets", Secret(name))) != 201)
          break;
        ++done;
      }
      fd.Close();
    });
  }
  for (auto& t : ts) t.join();
  Report("durable creates (" + std::to_string(conns) + " clients)", static_cast<double>(done) / seconds,
         "creates/s");
}

void WatchFanOut(int watchers) {
  // Like a controller (an informer): list once, then watch from the list's resourceVersion,
  // so starting a watch costs no initial listing.
  // The list's own metadata.resourceVersion, parsed: the first "resourceVersion" in the text
  // may be an item's (the server writes keys in order: "items" before "metadata"), and a watch
  // from an item's version would replay every write since and time the replay, not the update.
  std::string rv;
  {
    Conn list_fd;
    std::string buf, body;
    t_keep_body = &body;
    const int code = Call(list_fd, buf, Request("GET", "/api/v1/namespaces/bench/secrets?limit=1"));
    t_keep_body = nullptr;
    list_fd.Close();
    const auto list = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (code == 200 && list.is_object()) {
      rv = list.value(nlohmann::json::json_pointer("/metadata/resourceVersion"), std::string());
    }
    if (rv.empty()) {
      std::printf("watch fan-out: the LIST answered %d without metadata.resourceVersion\n", code);
      return;
    }
  }
  std::vector<Conn> fds;
  for (int i = 0; i < watchers; ++i) {
    Conn fd = Connect();
    if (!fd.ok()) break;
    WriteAll(fd, Request("GET", "/api/v1/namespaces/bench/secrets?watch=true&fieldSelector=metadata.name%3Dwatched&timeoutSeconds=60&resourceVersion=" + rv));
    fds.push_back(fd);
  }
  // Wait until every stream has its response headers (the watch is registered by then).
  std::vector<std::string> bufs(fds.size());
  auto drain_until = [&](size_t i, const char* marker, Clock::time_point deadline) {
    while (bufs[i].find(marker) == std::string::npos && Clock::now() < deadline) {
      pollfd p{fds[i].fd, POLLIN, 0};
      if (!fds[i].Pending() && poll(&p, 1, 100) <= 0) continue;
      char tmp[8192];
      ssize_t n = fds[i].Read(tmp, sizeof tmp);
      if (n <= 0) return false;
      bufs[i].append(tmp, static_cast<size_t>(n));
    }
    return bufs[i].find(marker) != std::string::npos;
  };
  auto deadline = Clock::now() + std::chrono::seconds(60);
  size_t ready = 0;
  for (size_t i = 0; i < fds.size(); ++i) ready += drain_until(i, "\r\n\r\n", deadline);
  if (ready < fds.size()) std::printf("watch fan-out: only %zu of %zu watches started\n", ready, fds.size());
  // One update; then time every watcher's MODIFIED.
  Conn fd;
  std::string buf;
  auto t0 = Clock::now();
  Call(fd, buf, Request("PUT", "/api/v1/namespaces/bench/secrets/watched", Secret("watched", 300)));
  std::vector<double> seen(fds.size(), -1);
  size_t remaining = fds.size();
  std::vector<pollfd> pfds(fds.size());
  auto end = Clock::now() + std::chrono::seconds(30);
  while (remaining > 0 && Clock::now() < end) {
    bool pending = false;
    for (size_t i = 0; i < fds.size(); ++i) {
      pfds[i] = {seen[i] < 0 ? fds[i].fd : -1, POLLIN, 0};
      pending = pending || (seen[i] < 0 && fds[i].Pending());
    }
    if (!pending && poll(pfds.data(), pfds.size(), 100) <= 0) continue;
    double now_ms = duration_cast<microseconds>(Clock::now() - t0).count() / 1000.0;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (seen[i] >= 0 || !((pfds[i].revents & POLLIN) || fds[i].Pending())) continue;
      char tmp[8192];
      ssize_t n = fds[i].Read(tmp, sizeof tmp);
      if (n > 0) bufs[i].append(tmp, static_cast<size_t>(n));
      if (bufs[i].find("\"MODIFIED\"") != std::string::npos) {
        seen[i] = now_ms;
        --remaining;
      }
    }
  }
  std::vector<double> got;
  for (double s : seen) if (s >= 0) got.push_back(s);
  Report("watch fan-out: watchers that saw the update", static_cast<double>(got.size()), "of " + std::to_string(fds.size()));
  Report("watch fan-out: update to last watcher", got.empty() ? -1 : *std::max_element(got.begin(), got.end()), "ms");
  Report("watch fan-out: p50 over watchers", Percentile(got, 50), "ms");
  for (Conn& f : fds) f.Close();
  fd.Close();
}

// A thread that sends request(v), v = 0, 1, ..., one every `period` on its own connection
// until Stop(), which returns how many were answered 200.
class PeriodicWrites {
 public:
  PeriodicWrites(std::chrono::milliseconds period, std::function<std::string(long)> request)
      : thread_([this, period, request = std::move(request)] {
          Conn fd;
          std::string buf;
          for (long v = 0; !stop_; ++v) {
            auto next = Clock::now() + period;
            if (Call(fd, buf, request(v)) == 200) ++done_;
            std::this_thread::sleep_until(next);
          }
          fd.Close();
        }) {}
  ~PeriodicWrites() { Stop(); }
  long Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return done_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> done_{0};
  std::thread thread_;  // last: starts once the counters exist
};

// Fixture writes go through the admin's connection and credentials; a 409 (already there,
// from an earlier run against the same server) counts as done.
int Fixture(Conn& fd, std::string& buf, const std::string& method, const std::string& path,
            const std::string& body) {
  if (!fd.ok()) fd = ConnectWith(g_admin_ctx);
  if (!fd.ok() || !WriteAll(fd, Request(method, path, body, g_admin_auth))) return -1;
  int code = ReadResponse(fd, buf);
  if (code != 200 && code != 201 && code != 409) {
    std::fprintf(stderr, "bench_api: fixture %s %s: HTTP %d\n", method.c_str(), path.c_str(), code);
  }
  return code;
}

// Phase 6: open-loop GETs while `storm` watches that never read are open and an object is
// updated 50 times a second (every update fans out to every stalled watch).
void GetsDuringWatchStorm(const std::string& get, int storm, const std::string& query,
                          double seconds) {
  std::vector<Conn> fds;
  for (int i = 0; i < storm; ++i) {
    Conn fd = Connect();
    if (!fd.ok()) break;
    int small = 4096;  // a small receive buffer: the backlog stays in the server
    setsockopt(fd.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    WriteAll(fd, Request("GET",
                         "/api/v1/namespaces/bench/secrets?watch=true&timeoutSeconds=600" + query));
    fds.push_back(fd);
  }
  PeriodicWrites writer(std::chrono::milliseconds(20), [](long v) {
    return Request("PUT", "/api/v1/namespaces/bench/secrets/storm",
                   Secret("storm", 20'000 + static_cast<int>(v % 2)));
  });
  // Let the watches register and their backlogs build before timing.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  OpenLoop("GET by name during " + std::to_string(fds.size()) + " non-reading watches", get, 1000,
           16, seconds);
  const long updates = writer.Stop();
  // Watches refused by the budgets answer 429; streams the server closed (slow consumers past
  // their backlog budget) read EOF once drained.
  int closed = 0, refused = 0;
  // (Plain HTTP only: over TLS the raw bytes read here are records, not "HTTP/1.1 429".)
  for (Conn& fd : fds) {
    char tmp[65536];
    std::string head;
    ssize_t n;
    while ((n = recv(fd.fd, tmp, sizeof tmp, MSG_DONTWAIT)) > 0) {
      if (head.size() < 16) head.append(tmp, static_cast<size_t>(std::min<ssize_t>(n, 16)));
    }
    if (head.rfind("HTTP/1.1 429", 0) == 0) {
      ++refused;
    } else {
      closed += n == 0;
    }
    fd.Close();
  }
  Report("watch storm: updates written", static_cast<double>(updates), "updates");
  Report("watch storm: watches refused (429)", refused, "of " + std::to_string(fds.size()));
  Report("watch storm: watches closed by the server", closed, "of " + std::to_string(fds.size()));
}

// Phase 3: LIST of the 1,000 Secrets by label, as it is and with `Accept-Encoding: gzip` (what
// client-go and kubectl send; the body is read as received, not decoded), first with the
// collection unchanged (where a server may answer repeated LISTs from a response cache), then
// with 10 updates a second to listed Secrets (each changes the list), so that a cache hit is
// not mistaken for the common case.
void ListPhases(double seconds) {
  const std::string path = "/api/v1/namespaces/bench/secrets?labelSelector=app%3Dbench";
  const std::string plain = Request("GET", path);
  std::string gzip = plain;
  gzip.insert(gzip.find("\r\n") + 2, "Accept-Encoding: gzip\r\n");
  ClosedLoop("LIST 1,000 objects (2 connections)", plain, 2, seconds);
  ClosedLoop("LIST 1,000 objects, gzip (2 connections)", gzip, 2, seconds);
  PeriodicWrites writer(std::chrono::milliseconds(100), [](long v) {
    const std::string name = "item-" + std::to_string(v * 37 % 1000);
    return Request("PUT", "/api/v1/namespaces/bench/secrets/" + name,
                   Secret(name, 200 + static_cast<int>(v % 2)));
  });
  const auto t0 = Clock::now();
  ClosedLoop("LIST 1,000 objects, 10 updates/s (2 connections)", plain, 2, seconds);
  ClosedLoop("LIST 1,000 objects, gzip, 10 updates/s (2 connections)", gzip, 2, seconds);
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const long updates = writer.Stop();
  Report("LIST phases with writes: updates made", static_cast<double>(updates) / elapsed,
         "updates/s");
}

}  // namespace

int main(int argc, char** argv) {
  std::string server, phases = "all", cacert, cert, key, token, admin_token;
  std::string only;  // "storm": fixtures and phase 6 only
  double seconds = 5;
  int watchers = 1000, bindings = 0;
  int storm = 200;
  int create_clients = 8;  // concurrent creates: etcd commits (and fsyncs) those in flight together
  std::vector<int> get_conns = {8};  // --get-connections 8,16,32: one closed-loop GET run each
  bool get_rv0 = false;  // --get-rv0 1: each also with ?resourceVersion=0 (the cache as it is)
  std::string storm_query;  // appended to the storm watches' URL, e.g. "&fieldSelector=..."
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--server") server = argv[i + 1];
    if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    if (a == "--watchers") watchers = std::atoi(argv[i + 1]);
    if (a == "--phases") phases = argv[i + 1];
    if (a == "--cacert") cacert = argv[i + 1];
    if (a == "--cert") cert = argv[i + 1];
    if (a == "--key") key = argv[i + 1];
    if (a == "--token") token = argv[i + 1];
    if (a == "--admin-token") admin_token = argv[i + 1];
    if (a == "--bindings") bindings = std::atoi(argv[i + 1]);
    if (a == "--server-pid") g_server_pid = std::atoi(argv[i + 1]);
    if (a == "--store-pids") {
      for (const char* p = argv[i + 1]; *p != 0;) {
        g_store_pids.push_back(std::atoi(p));
        while (*p != 0 && *p != ',') ++p;
        if (*p == ',') ++p;
      }
    }
    if (a == "--storm-watchers") storm = std::atoi(argv[i + 1]);
    if (a == "--only") only = argv[i + 1];
    if (a == "--storm-query") storm_query = argv[i + 1];
    if (a == "--create-clients") create_clients = std::atoi(argv[i + 1]);
    if (a == "--get-rv0") get_rv0 = std::atoi(argv[i + 1]) != 0;
    if (a == "--get-connections") {
      get_conns.clear();
      for (const char* p = argv[i + 1]; *p != 0;) {
        get_conns.push_back(std::atoi(p));
        while (*p != 0 && *p != ',') ++p;
        if (*p == ',') ++p;
      }
    }
  }
  size_t colon = server.rfind(':');
  bool tls = server.rfind("https://127.0.0.1:", 0) == 0;
  if ((!tls && server.rfind("http://127.0.0.1:", 0) != 0) || colon == std::string::npos ||
      (phases != "all" && phases != "get") || (tls && cacert.empty()) || create_clients < 1 ||
      get_conns.empty() || *std::min_element(get_conns.begin(), get_conns.end()) < 1) {
    std::fprintf(stderr,
                 "usage: bench_api --server http(s)://127.0.0.1:PORT [--seconds N] [--watchers N]\n"
                 "                 [--phases all|get] [--cacert CA (https)] [--token T]\n"
                 "                 [--cert CRT --key KEY] [--admin-token T] [--bindings N]\n"
                 "                 [--server-pid PID] [--storm-watchers N] [--storm-query Q]\n"
                 "                 [--only storm] [--create-clients N]\n"
                 "                 [--get-connections N[,N...]] [--get-rv0 0|1]\n"
                 "                 [--store-pids PID[,PID...]]\n");
    return 2;
  }
  g_port = std::atoi(server.c_str() + colon + 1);
  if (tls) {
    g_ctx = NewClientContext(cacert, cert, key);
    g_admin_ctx = cert.empty() ? g_ctx : NewClientContext(cacert, "", "");
  }
  if (!token.empty()) g_auth = "Authorization: Bearer " + token + "\r\n";
  if (admin_token.empty()) admin_token = token;
  if (!admin_token.empty()) g_admin_auth = "Authorization: Bearer " + admin_token + "\r\n";

  // Fixtures: a namespace, 1,000 objects to list, the watched object, and the RoleBindings.
  {
    Conn fd;
    std::string buf;
    Fixture(fd, buf, "POST", "/api/v1/namespaces",
            R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}})");
    for (int i = 0; i < 1000; ++i) {
      Fixture(fd, buf, "POST", "/api/v1/namespaces/bench/secrets",
              Secret("item-" + std::to_string(i)));
    }
    Fixture(fd, buf, "POST", "/api/v1/namespaces/bench/secrets", Secret("watched"));
    Fixture(fd, buf, "POST", "/api/v1/namespaces/bench/secrets", Secret("storm", 20'000));
    for (int i = 0; i < bindings; ++i) {
      std::string n = std::to_string(i);
      Fixture(
          fd, buf, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/bench/rolebindings",
          R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"other-)" +
              n +
              R"("},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":")" +
              (i % 2 ? "edit" : "view") + R"("},"subjects":[{"kind":"User","name":"user-)" + n +
              R"("},{"kind":"Group","name":"team-)" + std::to_string(i % 100) + R"("}]})");
    }
    fd.Close();
  }

  std::string get = Request("GET", "/api/v1/namespaces/bench/secrets/item-42");
  {
    // The measured user's own binding applies once its watch event reaches the authorizer.
    Conn fd;
    std::string buf;
    int code = -1;
    for (int i = 0; i < 500 && (code = Call(fd, buf, get)) != 200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    fd.Close();
    if (code != 200) {
      std::fprintf(stderr, "bench_api: GET item-42 as the measured user: HTTP %d\n", code);
      return 1;
    }
  }
  if (only == "storm") {
    GetsDuringWatchStorm(get, storm, storm_query, seconds);
    return 0;
  }
  // resourceVersion=0: served from the watch cache as it is, without a consistent-read round
  // (kube-apiserver's "any"): not the consistent GET above, and reported apart from it.
  const std::string get_rv0_req =
      Request("GET", "/api/v1/namespaces/bench/secrets/item-42?resourceVersion=0");
  for (int conns : get_conns) {
    ClosedLoop("GET by name (" + std::to_string(conns) + " connections)", get, conns, seconds);
    if (get_rv0) {
      ClosedLoop("GET by name, resourceVersion=0 (" + std::to_string(conns) + " connections)",
                 get_rv0_req, conns, seconds);
    }
  }
  OpenLoop("GET by name", get, 1000, 16, seconds);
  if (phases == "get") return 0;
  ListPhases(seconds);
  Creates(create_clients, seconds);
  WatchFanOut(watchers);
  if (storm > 0) GetsDuringWatchStorm(get, storm, storm_query, seconds);
  return 0;
}
