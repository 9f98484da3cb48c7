// Implementation of tlearn/train/progress.hpp.
#include "tlearn/train/progress.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

namespace tlearn::detail {

Progress::Progress(std::ostream& out, int64_t steps, bool show_lr)
    : out_(out), steps_(steps), tty_(&out == &std::cout && isatty(fileno(stdout))), show_lr_(show_lr), t0_(clock::now()) {}

void Progress::update(int64_t step, const Logs& logs, bool final) {
  if (!tty_ && !final) return;
  const double elapsed = std::chrono::duration<double>(clock::now() - t0_).count();
  std::ostringstream line;
  const int64_t total = steps_ > 0 ? steps_ : step;
  const int w = int(std::to_string(total).size());
  line << std::setw(w) << step << '/' << (steps_ > 0 ? std::to_string(steps_) : std::string("Unknown")) << " [";
  const int width = 30;
  const int done = final ? width : int(width * double(step) / double(std::max<int64_t>(total, 1)));
  for (int i = 0; i < width; ++i) line << (i < done - 1 || (final && i < width) ? '=' : i == done - 1 ? '>' : '.');
  line << "] - " << int64_t(elapsed) << "s ";
  const double per = step > 0 ? elapsed / double(step) : 0;
  if (per >= 1) line << int64_t(per) << "s/step";
  else if (per >= 1e-3) line << int64_t(per * 1e3) << "ms/step";
  else line << int64_t(per * 1e6) << "us/step";
  for (const auto& [k, v] : logs) {
    if (k == "lr" && !show_lr_) continue;
    line << " - " << k << ": ";
    if (std::abs(v) >= 1e-3 || v == 0) line << std::fixed << std::setprecision(4) << v;
    else line << std::scientific << std::setprecision(4) << v;
    line << std::defaultfloat;
  }
  if (tty_) {
    const std::string s = line.str();
    out_ << '\r' << s;
    if (s.size() < last_width_) out_ << std::string(last_width_ - s.size(), ' ');
    last_width_ = s.size();
    if (final) out_ << '\n';
    out_ << std::flush;
  } else {
    out_ << line.str() << '\n' << std::flush;
  }
}

}  // namespace tlearn::detail
