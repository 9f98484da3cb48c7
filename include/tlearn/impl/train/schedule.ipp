// Implementation of tlearn/train/schedule.hpp.
#include <cmath>

#include "tlearn/core/error.hpp"
#include "tlearn/train/schedule.hpp"

namespace tlearn::schedule {

std::string Spec::name() const {
  switch (kind) {
    case Kind::Constant: return "constant";
    case Kind::Cosine: return "cosine";
    case Kind::OneCycle: return "one-cycle";
    case Kind::Step: return "step";
    case Kind::MultiStep: return "multi-step";
    case Kind::Polynomial: return "polynomial";
  }
  return "?";
}

namespace {
constexpr double kPi = 3.14159265358979323846;

/// A length in epochs as optimizer updates.
int64_t updates(double epochs, int64_t per_epoch) { return std::llround(epochs * double(per_epoch)); }

/// torch's OneCycleLR._annealing_cos.
double anneal_cos(double start, double end, double pct) { return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1); }
}  // namespace

double Spec::factor(int64_t t, int64_t total, int64_t per_epoch, double lr) const {
  const std::string who = "schedule::" + name();
  if (total < 1 || per_epoch < 1) throw Error(who + ": the run has no optimizer update to schedule");
  if (!(warmup_epochs() >= 0) || !(warmup_start_factor() >= 0 && warmup_start_factor() <= 1))
    throw Error(who + ": need warmup_epochs >= 0 and warmup_start_factor in [0, 1]");
  const int64_t warmup = updates(warmup_epochs(), per_epoch);
  if (warmup > total || (kind != Kind::Constant && warmup == total))
    throw Error(who + ": the warm-up (" + std::to_string(warmup_epochs()) +
                " epochs) is not shorter than the schedule; shorten it or train for more epochs");
  if (t < warmup) return warmup_start_factor() + (1 - warmup_start_factor()) * double(t) / double(warmup);
  const int64_t length = total - warmup;
  const double u = double(std::min(t - warmup, length));
  switch (kind) {
    case Kind::Constant:
      return 1.0;
    case Kind::Cosine:
      if (!(min_lr() >= 0 && min_lr() <= lr)) throw Error(who + ": min_lr must be in [0, lr]");
      return (min_lr() + (lr - min_lr()) * (1 + std::cos(kPi * u / double(length))) / 2) / lr;
    case Kind::OneCycle: {
      if (!(pct_start() > 0 && pct_start() < 1) || !(div_factor() > 0) || !(final_div_factor() > 0))
        throw Error(who + ": need 0 < pct_start < 1 and positive div_factor, final_div_factor");
      const double initial = 1.0 / div_factor(), last = initial / final_div_factor();
      const double peak_step = pct_start() * double(length) - 1, end_step = double(length) - 1;
      if (peak_step <= 0 || end_step <= peak_step)
        throw Error(who + ": the run is too short for pct_start " + std::to_string(pct_start()) +
                    " (it needs at least two updates on each side of the peak)");
      const double step = std::min(u, end_step);
      if (step <= peak_step) return anneal_cos(initial, 1.0, step / peak_step);
      return anneal_cos(1.0, last, (step - peak_step) / (end_step - peak_step));
    }
    case Kind::Step: {
      const int64_t every = updates(step_size(), per_epoch);
      if (every < 1) throw Error(who + ": step_size must be at least one update long");
      return std::pow(gamma(), double(int64_t(u) / every));
    }
    case Kind::MultiStep: {
      int passed = 0;
      for (size_t i = 0; i < milestones().size(); ++i) {
        if (i > 0 && milestones()[i] <= milestones()[i - 1]) throw Error(who + ": milestones must increase");
        if (int64_t(u) >= updates(milestones()[i], per_epoch)) ++passed;
      }
      return std::pow(gamma(), passed);
    }
    case Kind::Polynomial:
      if (!(power() > 0)) throw Error(who + ": power must be positive");
      return std::pow(1.0 - u / double(length), power());
  }
  return 1.0;
}

}  // namespace tlearn::schedule
