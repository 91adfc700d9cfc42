// A tiny HTTP/1.1 server on a free loopback port for tests that need something real to call or
// scrape: every request is answered with the status and body the test set last (one request
// per connection, then closed), and the head of the latest request is kept so a test can check
// what a client sent (its path, its Authorization header). Serves from its own thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

namespace meridian::test_env {

class HttpStub {
 public:
  HttpStub() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;  // port() stays 0: the test fails on it
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~HttpStub() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  HttpStub(const HttpStub&) = delete;
  HttpStub& operator=(const HttpStub&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // What every request is answered with from now on.
  void Answer(int status, const std::string& body,
              const std::string& content_type = "application/json") {
    std::lock_guard lock(mu_);
    status_ = status;
    body_ = body;
    content_type_ = content_type;
  }
  // The request line and headers of the latest request ("" before any).
  std::string LastRequest() {
    std::lock_guard lock(mu_);
    return last_request_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string request;
      char buf[2048];
      while (request.find("\r\n\r\n") == std::string::npos) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 1000) <= 0) break;
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      std::string response;
      {
        std::lock_guard lock(mu_);
        last_request_ = request.substr(0, request.find("\r\n\r\n"));
        response = "HTTP/1.1 " + std::to_string(status_) +
                   " Stub\r\nContent-Type: " + content_type_ +
                   "\r\nContent-Length: " + std::to_string(body_.size()) +
                   "\r\nConnection: close\r\n\r\n" + body_;
      }
      size_t sent = 0;
      while (sent < response.size()) {
        const ssize_t n = ::write(c, response.data() + sent, response.size() - sent);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      ::close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::mutex mu_;  // guards the answer and last_request_
  int status_ = 200;
  std::string body_, content_type_ = "application/json", last_request_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace meridian::test_env
