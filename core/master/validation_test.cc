#include "corral/master/validation.h"

#include <cmath>

#include <gtest/gtest.h>

namespace corral::validation {
namespace {

using v1::scheduler::Call;

#define EXPECT_ERROR(expr, text)                                           \
  do {                                                                     \
    absl::Status _s = (expr);                                              \
    EXPECT_FALSE(_s.ok());                                                 \
    EXPECT_NE(_s.message().find(text), std::string::npos) << _s.message(); \
  } while (0)

Call Subscribe() {
  Call c;
  c.set_type(Call::SUBSCRIBE);
  c.mutable_subscribe()->mutable_framework_info()->set_user("u");
  c.mutable_subscribe()->mutable_framework_info()->set_name("n");
  return c;
}

TEST(ValidationTest, CallStructure) {
  Call c;
  EXPECT_ERROR(ValidateCall(c), "'type' is missing");
  c.set_type(Call::ACCEPT);
  EXPECT_ERROR(ValidateCall(c), "'framework_id' is required for ACCEPT");
  c.mutable_framework_id()->set_value("f");
  EXPECT_ERROR(ValidateCall(c), "'accept' is required for ACCEPT");
  c.mutable_accept();
  EXPECT_ERROR(ValidateCall(c), "'accept.offer_ids' is empty");
  c.mutable_accept()->add_offer_ids()->set_value("o");
  c.mutable_accept()->mutable_filters()->set_refuse_seconds(std::nan(""));
  EXPECT_ERROR(ValidateCall(c), "refuse_seconds' is not a finite number");
  c.mutable_accept()->clear_filters();
  c.mutable_accept()->add_operations();
  EXPECT_ERROR(ValidateCall(c), "has no 'type'");

  Call ack;
  ack.set_type(Call::ACKNOWLEDGE);
  ack.mutable_framework_id()->set_value("f");
  ack.mutable_acknowledge()->mutable_agent_id()->set_value("a");
  ack.mutable_acknowledge()->mutable_task_id()->set_value("t");
  ack.mutable_acknowledge()->set_uuid("short");
  EXPECT_ERROR(ValidateCall(ack), "'acknowledge.uuid' must be 16 bytes");

  Call kill;
  kill.set_type(Call::KILL);
  kill.mutable_framework_id()->set_value("f");
  kill.mutable_kill();
  EXPECT_ERROR(ValidateCall(kill), "'kill.task_id' is required");

  Call msg;
  msg.set_type(Call::MESSAGE);
  msg.mutable_framework_id()->set_value("f");
  msg.mutable_message()->mutable_agent_id()->set_value("a");
  EXPECT_ERROR(ValidateCall(msg), "'message.executor_id' is required");
}

TEST(ValidationTest, Subscribe) {
  Call c = Subscribe();
  EXPECT_TRUE(ValidateSubscribe(c).ok());
  c.mutable_subscribe()->mutable_framework_info()->clear_name();
  EXPECT_ERROR(ValidateSubscribe(c), "'subscribe.framework_info.name' is required");
  c = Subscribe();
  c.mutable_subscribe()->mutable_framework_info()->clear_user();
  EXPECT_ERROR(ValidateSubscribe(c), "'subscribe.framework_info.user' is required");
  c = Subscribe();
  c.mutable_subscribe()->mutable_framework_info()->set_failover_timeout(-1);
  EXPECT_ERROR(ValidateSubscribe(c), "failover_timeout' must be a finite");
  c = Subscribe();
  c.mutable_subscribe()->mutable_framework_info()->add_roles("a");
  EXPECT_ERROR(ValidateSubscribe(c), "requires the MULTI_ROLE capability");
  c.mutable_subscribe()->mutable_framework_info()->add_capabilities()->set_type(
      v1::FrameworkInfo::Capability::MULTI_ROLE);
  EXPECT_TRUE(ValidateSubscribe(c).ok());
  c.mutable_subscribe()->mutable_framework_info()->add_roles("a");
  EXPECT_ERROR(ValidateSubscribe(c), "has role 'a' twice");
  c = Subscribe();
  c.mutable_subscribe()->mutable_framework_info()->set_role("bad role");
  EXPECT_ERROR(ValidateSubscribe(c), "invalid role 'bad role'");
  c = Subscribe();
  c.mutable_framework_id()->set_value("x");
  EXPECT_ERROR(ValidateSubscribe(c), "'framework_id' is set but");
  c.mutable_subscribe()->mutable_framework_info()->mutable_id()->set_value("y");
  EXPECT_ERROR(ValidateSubscribe(c), "differs from");
  c = Subscribe();
  c.mutable_subscribe()->add_suppressed_roles("other");
  EXPECT_ERROR(ValidateSubscribe(c), "'subscribe.suppressed_roles' has role 'other'");
}

v1::TaskInfo Task() {
  v1::TaskInfo t;
  t.set_name("t");
  t.mutable_task_id()->set_value("t1");
  t.mutable_agent_id()->set_value("a1");
  auto* r = t.add_resources();
  r->set_name("cpus");
  r->set_type(v1::Value::SCALAR);
  r->mutable_scalar()->set_value(1);
  t.mutable_command()->set_value("true");
  return t;
}

TEST(ValidationTest, Tasks) {
  Resources res;
  EXPECT_TRUE(ValidateTask(Task(), "a1", &res).ok());
  EXPECT_EQ(res.Scalar("cpus"), 1000);

  v1::TaskInfo t = Task();
  t.mutable_task_id()->set_value("");
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "'task_id' is empty");
  t = Task();
  t.mutable_task_id()->set_value("a/b");
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "invalid character");
  t = Task();
  EXPECT_ERROR(ValidateTask(t, "other", &res), "is not the agent of the offers");
  t = Task();
  t.mutable_resources(0)->mutable_scalar()->set_value(-2);
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "scalar is negative");
  t = Task();
  t.mutable_resources(0)->mutable_scalar()->set_value(std::nan(""));
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "scalar is NaN");
  t = Task();
  t.clear_resources();
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "'resources' is empty");
  t = Task();
  t.clear_command();
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "neither 'command' nor 'executor'");
  t = Task();
  t.mutable_executor()->mutable_executor_id()->set_value("e");
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "'command' and 'executor' are both set");
  t = Task();
  t.mutable_command()->clear_value();
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "'command.value' is required");
  t = Task();
  t.mutable_kill_policy()->mutable_grace_period()->set_nanoseconds(-1);
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "is negative");
  t = Task();
  t.mutable_health_check()->set_interval_seconds(INFINITY);
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "'health_check' durations");
  t.mutable_health_check()->set_interval_seconds(1);
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "'health_check.type' must be COMMAND, HTTP or TCP");
  t.mutable_health_check()->set_type(v1::HealthCheck::HTTP);
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "'health_check.http.port'");
  t.mutable_health_check()->mutable_http()->set_port(8080);
  t.mutable_health_check()->mutable_http()->set_scheme("gopher");
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "'health_check.http.scheme'");
  t.mutable_health_check()->set_type(v1::HealthCheck::TCP);
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "'health_check.tcp.port'");
  t.mutable_health_check()->set_type(v1::HealthCheck::COMMAND);
  EXPECT_ERROR(ValidateTask(t, "a1", &res), "'health_check.command'");
  t.mutable_health_check()->mutable_command()->set_value("true");
  EXPECT_TRUE(ValidateTask(t, "a1", &res).ok());
}

TEST(ValidationTest, Executors) {
  v1::ExecutorInfo e;
  EXPECT_ERROR(ValidateExecutor(e, "f"), "'executor.executor_id' is empty");
  e.mutable_executor_id()->set_value("e");
  EXPECT_ERROR(ValidateExecutor(e, "f"), "'command' is required for a CUSTOM executor");
  e.set_type(v1::ExecutorInfo::DEFAULT);
  EXPECT_TRUE(ValidateExecutor(e, "f").ok());
  e.mutable_command()->set_value("x");
  EXPECT_ERROR(ValidateExecutor(e, "f"), "must not be set for a DEFAULT executor");
  e.set_type(v1::ExecutorInfo::CUSTOM);
  e.mutable_framework_id()->set_value("other");
  EXPECT_ERROR(ValidateExecutor(e, "f"), "not the calling framework's");
}

}  // namespace
}  // namespace corral::validation
