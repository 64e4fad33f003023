// The stage registry and its training extensions refuse a second entry under a taken name, naming
// both registrants (a silent replacement would run whichever came last).
#include <gtest/gtest.h>

#include "common/error.h"
#include "pipeline/stage.h"

using namespace mc::pipeline;

TEST(StageRegistry, DuplicateStageIsAnErrorNamingBothRegistrants) {
  StageRegistry r;
  register_pipeline_stages(r);
  const size_t before = r.all().size();
  StageInfo info;
  info.name = "finetune";
  try {
    r.add(info);
    FAIL() << "a second 'finetune' stage was accepted";
  } catch (const mc::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("stage 'finetune' is registered twice"), std::string::npos) << msg;
    EXPECT_NE(msg.find("first at pipeline/register.cpp:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("again at pipeline/stage_registry_test.cpp:"), std::string::npos) << msg;
  }
  EXPECT_EQ(r.all().size(), before);
}

TEST(StageRegistry, DuplicateTrainingExtensionIsAnError) {
  StageRegistry r;
  TrainingExtensionInfo info;
  info.key = "distill";
  r.training_extensions().add(info);
  try {
    r.training_extensions().add(info);
    FAIL() << "a second 'distill' extension was accepted";
  } catch (const mc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("training extension 'distill' is registered twice"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(r.training_extensions().all().size(), 1u);
}
