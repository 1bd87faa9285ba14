#include "corral/zookeeper/records.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace corral::zk {

std::string RecordNodes::Name(absl::string_view id) {
  std::string out;
  for (char c : id) {
    if (c == '/' || c == '%') {
      absl::StrAppend(&out, c == '/' ? "%2F" : "%25");
    } else {
      out += c;
    }
  }
  return out;
}

std::string RecordNodes::Id(absl::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name.substr(i, 3) == "%2F") {
      out += '/';
      i += 2;
    } else if (name.substr(i, 3) == "%25") {
      out += '%';
      i += 2;
    } else {
      out += name[i];
    }
  }
  return out;
}

absl::Status RecordNodes::MakeDirs(const std::string& path) {
  if (auto st = session_->CreatePath(path, false); !st.ok()) return st;
  known_.insert(path);
  return absl::OkStatus();
}

absl::StatusOr<std::string> RecordNodes::Get(const std::string& path) {
  auto data = session_->Get(path);
  if (data.ok()) known_.insert(path);
  return data;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> RecordNodes::Children(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> out;
  auto names = session_->Children(dir);
  if (absl::IsNotFound(names.status())) return out;
  if (!names.ok()) return names.status();
  known_.insert(dir);
  std::sort(names->begin(), names->end());
  for (const auto& n : *names) {
    auto data = session_->Get(dir + "/" + n);
    if (absl::IsNotFound(data.status())) continue;  // gone meanwhile
    if (!data.ok()) return data.status();
    known_.insert(dir + "/" + n);
    out.emplace_back(n, std::move(*data));
  }
  return out;
}

std::vector<std::string> RecordNodes::KnownUnder(const std::string& dir) const {
  std::vector<std::string> out;
  std::string prefix = dir + "/";
  for (auto it = known_.lower_bound(prefix); it != known_.end() && absl::StartsWith(*it, prefix); ++it)
    out.push_back(*it);
  return out;
}

void RecordNodes::Learn(const std::string& path, bool exists) {
  if (exists) {
    known_.insert(path);
  } else {
    known_.erase(path);
  }
}

bool RecordNodes::Write::Exists(const std::string& path) const {
  if (removed_.count(path)) return false;
  return nodes_->Known(path) || added_.count(path);
}

void RecordNodes::Write::Upsert(const std::string& path, const std::string& data) {
  ops_.push_back({Exists(path) ? Session::Op::kSet : Session::Op::kCreate, path, data});
  added_.insert(path);
  removed_.erase(path);
}

void RecordNodes::Write::Dir(const std::string& path) {
  if (!Exists(path)) Upsert(path, "");
}

void RecordNodes::Write::Create(const std::string& path, const std::string& data) {
  ops_.push_back({Session::Op::kCreate, path, data});
  added_.insert(path);
  removed_.erase(path);
}

void RecordNodes::Write::Delete(const std::string& path) {
  if (!Exists(path)) return;
  ops_.push_back({Session::Op::kDelete, path, ""});
  removed_.insert(path);
  added_.erase(path);
}

void RecordNodes::Write::DeleteTree(const std::string& dir) {
  std::vector<std::string> under = nodes_->KnownUnder(dir);
  std::string prefix = dir + "/";
  for (const auto& p : added_)
    if (absl::StartsWith(p, prefix)) under.push_back(p);
  std::sort(under.begin(), under.end(), [](const std::string& a, const std::string& b) {
    auto depth = [](const std::string& s) { return std::count(s.begin(), s.end(), '/'); };
    return depth(a) != depth(b) ? depth(a) > depth(b) : a < b;
  });
  under.erase(std::unique(under.begin(), under.end()), under.end());
  for (const auto& p : under) Delete(p);
  Delete(dir);
}

absl::Status RecordNodes::Apply(const Write& write) {
  if (write.ops_.empty()) return absl::OkStatus();
  if (auto st = session_->Multi(guard_, write.ops_); !st.ok()) return st;
  for (const auto& op : write.ops_) Learn(op.path, op.kind != Session::Op::kDelete);
  return absl::OkStatus();
}

}  // namespace corral::zk
