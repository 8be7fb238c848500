// Whole-file outputs written atomically (a crash never leaves a half-written file or directory in place)
// and whole-file text input.
#pragma once
#include <cstddef>
#include <string>

namespace sqz {

// Writes a file atomically: the bytes go to PATH.tmp.<pid>, then rename() replaces PATH, so a crash
// never leaves a half-written output.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // removes the temporary if commit() was not called
  void write(const void* p, size_t n);
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
};

void write_file_atomic(const std::string& path, const std::string& contents);

// A directory output (quantize, finetune, train) built under OUT.tmp.<pid> and put in place of OUT by
// commit(): a previous OUT is moved aside first and removed only once the new one is in place. Destroyed
// without commit() (an error on the way), it removes the half-written directory.
class AtomicDir {
 public:
  explicit AtomicDir(std::string out);
  ~AtomicDir();
  const std::string& path() const { return tmp_; }  // where to write the files
  void commit();

 private:
  std::string out_, tmp_;
  bool committed_ = false;
};

std::string read_text_file(const std::string& path);  // throws Error naming the path

}  // namespace sqz
