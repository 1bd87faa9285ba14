// Leader election and detection for Corral masters through ZooKeeper, in
// the form Mesos uses, so that Mesos-aware clients find a Corral leader
// unchanged: each master holds an ephemeral sequential node
// `<path>/json.info_NNNNNNNNNN` whose data is its MasterInfo as JSON; the
// smallest sequence number leads.
//
// Threading: each contender and detector runs a loop thread of its own;
// callbacks run on it and may block it briefly, never the ZooKeeper client.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "corral/v1/corral.pb.h"
#include "corral/zookeeper/zk.h"

namespace corral::zk {

// MasterInfo as the JSON Mesos writes into its json.info_ nodes (proto
// field names), and back.
std::string MasterInfoJson(const v1::MasterInfo& info);
absl::StatusOr<v1::MasterInfo> ParseMasterInfoJson(const std::string& json);
// "ip:port" to dial the master a MasterInfo describes.
std::string MasterAddress(const v1::MasterInfo& info);

class LeaderContender {
 public:
  struct Callbacks {
    std::function<void()> elected;                 // once, when this master leads
    std::function<void(const std::string&)> lost;  // once, when it no longer can; nothing follows
  };
  // Connects, publishes `info` and contends. Fails if ZooKeeper cannot be
  // reached within the session timeout.
  static absl::StatusOr<std::unique_ptr<LeaderContender>> Start(const Url& url, const v1::MasterInfo& info,
                                                                double session_timeout, Callbacks callbacks);
  // The same for any service: nodes `<url.path>/<prefix>NNNNNNNNNN` holding
  // `data` (marathon-lite and batch: "member_", their host:port).
  static absl::StatusOr<std::unique_ptr<LeaderContender>> Start(const Url& url, const std::string& prefix,
                                                                const std::string& data, double session_timeout,
                                                                Callbacks callbacks);
  ~LeaderContender();  // withdraws: the node goes with the session

  // For the leader's registry: the session, and the node whose presence
  // guards every write.
  Session* session();
  std::string node() const;

 private:
  struct Impl;
  explicit LeaderContender(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Follows the leader under a path. on_change is called on the detector's
// thread with the leader's MasterInfo, or nullopt when there is none; first
// once the first look is done, then on every change. Replaces an expired
// session and retries ZooKeeper failures by itself.
class LeaderDetector {
 public:
  using OnChange = std::function<void(const std::optional<v1::MasterInfo>&)>;
  static std::unique_ptr<LeaderDetector> Start(const Url& url, double session_timeout, OnChange on_change);
  // The leader among `<prefix>NNNNNNNNNN` nodes, its node's data as it is.
  using OnDataChange = std::function<void(const std::optional<std::string>&)>;
  static std::unique_ptr<LeaderDetector> StartForData(const Url& url, const std::string& prefix, double session_timeout,
                                                      OnDataChange on_data);
  ~LeaderDetector();

 private:
  static std::unique_ptr<LeaderDetector> Start(const Url& url, double session_timeout, OnChange on_change,
                                               const std::string& prefix, OnDataChange on_data);
  struct Impl;
  explicit LeaderDetector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Where to dial the leading master, for agents and schedulers: a fixed
// "host:port", or the leader published under a zk:// URL. on_change gets
// "ip:port", or "" while no master leads; for a fixed address it is called
// once, from Start.
class MasterDetector {
 public:
  using OnChange = std::function<void(const std::string&)>;
  static absl::StatusOr<std::unique_ptr<MasterDetector>> Start(const std::string& master, OnChange on_change,
                                                               double session_timeout = 10);
  ~MasterDetector();

 private:
  MasterDetector() = default;
  std::unique_ptr<LeaderDetector> zk_;
};

}  // namespace corral::zk
