// Every message, enum, field and enum value that Corral declares in its
// public API (packages corral.v1.*, read as mesos.v1.*) must be Mesos's:
// the same number, the same repeated-ness and the same type, as the table of
// facts in testdata/mesos-v1-facts.tsv records them for Mesos 1.11. A
// mismatch here means a Mesos client reads one field as another.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "corral/v1/agent.pb.h"
#include "corral/v1/allocator.pb.h"
#include "corral/v1/corral.pb.h"
#include "corral/v1/executor.pb.h"
#include "corral/v1/maintenance.pb.h"
#include "corral/v1/master.pb.h"
#include "corral/v1/quota.pb.h"
#include "corral/v1/role.pb.h"
#include "corral/v1/scheduler.pb.h"

namespace {

namespace pb = google::protobuf;

// Corral's own additions, past every number Mesos uses in their message.
const std::set<std::string> kCorralOnly = {
    "mesos.v1.Role.quota",
    "mesos.v1.Role.allocated",
};

std::string AsMesos(const std::string& name) {
  const std::string prefix = "corral.v1";
  return name.compare(0, prefix.size(), prefix) == 0 ? "mesos.v1" + name.substr(prefix.size()) : name;
}

using Facts = std::map<std::string, std::vector<std::string>>;  // name -> kind, number, label, type

Facts LoadFacts() {
  Facts facts;
  std::ifstream in(CORRAL_MESOS_FACTS);
  EXPECT_TRUE(in.good()) << "cannot read " << CORRAL_MESOS_FACTS;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) cols.push_back(col);
    const std::string name = cols[0];
    cols.erase(cols.begin());
    facts[name] = cols;
  }
  return facts;
}

// What Corral declares, in the table's form.
class Declared {
 public:
  void File(const pb::FileDescriptor* f) {
    for (int i = 0; i < f->message_type_count(); ++i) Message(f->message_type(i));
    for (int i = 0; i < f->enum_type_count(); ++i) Enum(f->enum_type(i));
  }
  const Facts& facts() const { return facts_; }

 private:
  void Message(const pb::Descriptor* m) {
    const std::string name = AsMesos(m->full_name());
    facts_[name] = {"message"};
    for (int i = 0; i < m->field_count(); ++i) {
      const pb::FieldDescriptor* f = m->field(i);
      std::string type = pb::FieldDescriptor::TypeName(f->type());
      if (f->message_type() != nullptr) type += ":" + AsMesos(f->message_type()->full_name());
      if (f->enum_type() != nullptr) type += ":" + AsMesos(f->enum_type()->full_name());
      facts_[name + "." + f->name()] = {"field", std::to_string(f->number()),
                                        f->is_repeated() ? "repeated" : "singular", type};
    }
    for (int i = 0; i < m->nested_type_count(); ++i) Message(m->nested_type(i));
    for (int i = 0; i < m->enum_type_count(); ++i) Enum(m->enum_type(i));
  }
  void Enum(const pb::EnumDescriptor* e) {
    const std::string name = AsMesos(e->full_name());
    facts_[name] = {"enum"};
    for (int i = 0; i < e->value_count(); ++i) {
      facts_[name + "." + e->value(i)->name()] = {"value", std::to_string(e->value(i)->number())};
    }
  }
  Facts facts_;
};

Facts CorralFacts() {
  Declared declared;
  for (const pb::FileDescriptor* f :
       {corral::v1::FrameworkInfo::descriptor()->file(), corral::v1::Role::descriptor()->file(),
        corral::v1::quota::QuotaConfig::descriptor()->file(),
        corral::v1::allocator::InverseOfferStatus::descriptor()->file(),
        corral::v1::maintenance::Schedule::descriptor()->file(), corral::v1::scheduler::Call::descriptor()->file(),
        corral::v1::executor::Call::descriptor()->file(), corral::v1::master::Call::descriptor()->file(),
        corral::v1::agent::Call::descriptor()->file()}) {
    declared.File(f);
  }
  return declared.facts();
}

TEST(MesosNumbersTest, EverythingCorralDeclaresIsMesossToTheNumber) {
  const Facts mesos = LoadFacts();
  const Facts corral = CorralFacts();
  ASSERT_GT(mesos.size(), 1000u);
  int checked = 0;
  for (const auto& [name, ours] : corral) {
    if (kCorralOnly.count(name) != 0) {
      EXPECT_EQ(mesos.count(name), 0u) << name << " is Mesos's now; drop it from kCorralOnly";
      continue;
    }
    auto it = mesos.find(name);
    if (it == mesos.end()) {
      ADD_FAILURE() << name << " is not in Mesos's v1 API (rename it as Mesos does, or list it in kCorralOnly)";
      continue;
    }
    EXPECT_EQ(ours, it->second) << name << ": Corral's facts differ from Mesos's";
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

TEST(MesosNumbersTest, TheTableHasNothingCorralNoLongerDeclares) {
  const Facts mesos = LoadFacts();
  const Facts corral = CorralFacts();
  for (const auto& entry : mesos) {
    EXPECT_EQ(corral.count(entry.first), 1u)
        << entry.first << " is in the table but not in core/proto: run scripts/mesos-facts/refresh.sh";
  }
}

// The differences that broke real clients, spelled out.
TEST(MesosNumbersTest, TheFieldsThatOnceDifferedAreMesoss) {
  using corral::v1::scheduler::Call;
  EXPECT_EQ(Call::Subscribe::kSuppressedRolesFieldNumber, 2);
  EXPECT_EQ(Call::Subscribe::kOfferConstraintsFieldNumber, 3);
  EXPECT_EQ(corral::v1::master::Call::DrainAgent::descriptor()
                ->FindFieldByName("max_grace_period")
                ->message_type()
                ->full_name(),
            "google.protobuf.Duration");
  EXPECT_EQ(corral::v1::DrainState_Name(static_cast<corral::v1::DrainState>(0)), "UNKNOWN");
}

}  // namespace
