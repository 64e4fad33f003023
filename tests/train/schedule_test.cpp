// Learning-rate schedules: closed forms, and every step against torch.optim.lr_scheduler
// (LinearLR, MultiStepLR, CosineAnnealingLR, chained as ChainedScheduler / SequentialLR).
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "common/error.h"
#include "torch_ref.h"
#include "train/schedule.h"

namespace mc::train {
namespace {

// argv: kind base steps_per_epoch epochs warmup_steps start_factor gamma min_lr milestone_steps,...
const char* kTorchSched = R"PY(
import sys, warnings, torch
warnings.filterwarnings("ignore")
d, kind, base, spe, epochs, W, f0, gamma, min_lr, ms = sys.argv[1:11]
base, spe, epochs, W, f0, gamma, min_lr = float(base), int(spe), int(epochs), int(W), float(f0), float(gamma), float(min_lr)
ms = [int(m) for m in ms.split(",") if m]
T = spe * epochs
opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
S = torch.optim.lr_scheduler
if kind == "constant":
    sched = S.LinearLR(opt, start_factor=f0, total_iters=W) if W > 0 else S.ConstantLR(opt, factor=1.0, total_iters=0)
elif kind == "step":
    step = S.MultiStepLR(opt, milestones=ms, gamma=gamma)
    sched = S.ChainedScheduler([S.LinearLR(opt, start_factor=f0, total_iters=W), step]) if W > 0 else step
else:
    if W > 0:
        sched = S.SequentialLR(opt, [S.LinearLR(opt, start_factor=f0, total_iters=W),
                                     S.CosineAnnealingLR(opt, T_max=T - W, eta_min=min_lr)], milestones=[W])
    else:
        sched = S.CosineAnnealingLR(opt, T_max=T, eta_min=min_lr)
out = []
for t in range(T):
    out.append(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
print(" ".join(repr(v) for v in out))
)PY";

void compare(const ScheduleSpec& spec, double base, int64_t spe, int64_t epochs) {
  ASSERT_TRUE(test::python_oracle("torch"));
  LrSchedule s(spec, base, spe, epochs);
  std::ostringstream args;
  std::string ms;
  for (double m : spec.milestones) ms += std::to_string(static_cast<int64_t>(std::llround(m * spe))) + ",";
  args.precision(17);
  args << spec.type << " " << base << " " << spe << " " << epochs << " " << s.warmup_steps() << " "
       << spec.warmup_start_factor << " " << spec.gamma << " " << spec.min_lr << " '" << ms << "'";
  test::TempDir dir;
  std::istringstream out(test::run_python(dir, kTorchSched, args.str()));
  std::vector<double> want;
  for (double v; out >> v;) want.push_back(v);
  ASSERT_EQ(static_cast<int64_t>(want.size()), s.total_steps());
  for (int64_t t = 0; t < s.total_steps(); ++t)
    EXPECT_NEAR(s.lr_at(t), want[static_cast<size_t>(t)], 1e-12 + 1e-9 * want[static_cast<size_t>(t)])
        << s.describe() << " at step " << t;
}

ScheduleSpec spec(const std::string& type, double warmup_epochs = 0) {
  ScheduleSpec s;
  s.type = type;
  s.warmup_epochs = warmup_epochs;
  return s;
}

TEST(Schedule, ConstantMatchesTorch) { compare(spec("constant"), 0.1, 7, 3); }
TEST(Schedule, ConstantWithWarmupMatchesTorch) { compare(spec("constant", 1), 0.1, 7, 3); }

TEST(Schedule, StepMatchesTorch) {
  ScheduleSpec s = spec("step");
  s.milestones = {2, 4};
  s.gamma = 0.2;
  compare(s, 0.5, 5, 6);
}

TEST(Schedule, StepWithWarmupMatchesTorch) {
  ScheduleSpec s = spec("step", 1.5);
  s.milestones = {1, 3};
  s.warmup_start_factor = 0.25;
  compare(s, 0.5, 4, 5);
}

TEST(Schedule, CosineMatchesTorch) {
  ScheduleSpec s = spec("cosine");
  s.min_lr = 1e-3;
  compare(s, 0.1, 10, 4);
}

TEST(Schedule, CosineWithWarmupStepsMatchesTorch) {
  ScheduleSpec s = spec("cosine");
  s.warmup_steps = 6;
  s.warmup_start_factor = 0.01;
  compare(s, 0.2, 9, 3);
}

TEST(Schedule, ClosedForms) {
  ScheduleSpec c = spec("cosine", 1);
  c.min_lr = 0.0;
  c.warmup_start_factor = 0.1;
  LrSchedule s(c, 1.0, 10, 3);  // 30 steps, 10 of warm-up
  EXPECT_EQ(s.total_steps(), 30);
  EXPECT_EQ(s.warmup_steps(), 10);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(5), 0.1 + 0.9 * 0.5);
  EXPECT_DOUBLE_EQ(s.lr_at(10), 1.0);
  EXPECT_NEAR(s.lr_at(20), 0.5, 1e-15);
  EXPECT_NEAR(s.lr_at(30), 0.0, 1e-15);
  EXPECT_NEAR(s.lr_at(1000), 0.0, 1e-15);  // past the end: the final rate

  ScheduleSpec st = spec("step");
  st.milestones = {1, 2};
  st.gamma = 0.5;
  LrSchedule s2(st, 0.8, 4, 3);
  EXPECT_DOUBLE_EQ(s2.lr_at(3), 0.8);
  EXPECT_DOUBLE_EQ(s2.lr_at(4), 0.4);
  EXPECT_DOUBLE_EQ(s2.lr_at(8), 0.2);
  EXPECT_DOUBLE_EQ(s2.lr_at(11), 0.2);

  LrSchedule k(spec("constant"), 0.3, 2, 2);
  for (int64_t t = 0; t < 4; ++t) EXPECT_DOUBLE_EQ(k.lr_at(t), 0.3);
  EXPECT_NE(s.describe().find("cosine"), std::string::npos);
  EXPECT_NE(s.describe().find("warm-up 10 steps"), std::string::npos) << s.describe();
}

TEST(Schedule, InvalidSpecsAreInputErrors) {
  auto bad = [](auto edit, int64_t spe = 10, int64_t epochs = 2) {
    ScheduleSpec s;
    edit(s);
    EXPECT_THROW(LrSchedule(s, 0.1, spe, epochs), InputError);
  };
  bad([](ScheduleSpec& s) { s.type = "poly"; });
  bad([](ScheduleSpec& s) { s.type = "step"; });  // no milestones
  bad([](ScheduleSpec& s) { s.type = "step"; s.milestones = {3, 2}; });
  bad([](ScheduleSpec& s) { s.type = "step"; s.milestones = {1}; s.gamma = 0; });
  bad([](ScheduleSpec& s) { s.warmup_epochs = -1; });
  bad([](ScheduleSpec& s) { s.warmup_start_factor = 0; });
  bad([](ScheduleSpec& s) { s.warmup_epochs = 3; });   // longer than 2 epochs
  bad([](ScheduleSpec& s) { s.warmup_steps = 21; });
  bad([](ScheduleSpec&) {}, 0, 2);                     // no steps
}

}  // namespace
}  // namespace mc::train
