#include "core/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace sqz {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd_ < 0) fail("{}: cannot create: {}", tmp_, std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFile::write(const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd_, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("{}: write failed: {}", tmp_, std::strerror(errno));
    }
    c += w;
    n -= (size_t)w;
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail("{}: fsync failed: {}", tmp_, std::strerror(errno));
  ::close(fd_);
  fd_ = -1;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    ::unlink(tmp_.c_str());
    fail("{}: cannot rename into place: {}", path_, std::strerror(errno));
  }
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  AtomicFile f(path);
  f.write(contents.data(), contents.size());
  f.commit();
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open: {}", path, std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

AtomicDir::AtomicDir(std::string out) : out_(std::move(out)), tmp_(out_ + ".tmp." + std::to_string(::getpid())) {
  namespace fs = std::filesystem;
  fs::remove_all(tmp_);
  fs::create_directories(tmp_);
}

AtomicDir::~AtomicDir() {
  if (committed_) return;
  std::error_code ec;
  std::filesystem::remove_all(tmp_, ec);
}

void AtomicDir::commit() {
  namespace fs = std::filesystem;
  std::string old;
  if (fs::exists(out_)) {
    old = out_ + ".old." + std::to_string(::getpid());
    fs::rename(out_, old);
  }
  fs::rename(tmp_, out_);
  committed_ = true;
  if (!old.empty()) fs::remove_all(old);
}

}  // namespace sqz
