// The Mesos release whose v1 API Corral serves. Mesos clients gate features
// on the version a master or agent reports (`/version`, GET_VERSION,
// MasterInfo.version), so that is what Corral reports there; Corral's own
// version is beside it, as `corral_version` in the JSON documents.
#pragma once

namespace corral {

inline constexpr char kMesosVersion[] = "1.11.0";

}  // namespace corral
