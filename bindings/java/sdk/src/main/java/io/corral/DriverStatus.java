package io.corral;

/** Where a driver is in its life: the C++ SDK's DriverStatus. */
public enum DriverStatus {
  NOT_STARTED, RUNNING, ABORTED, STOPPED;

  static DriverStatus of(int value) {
    DriverStatus[] all = values();
    return value >= 0 && value < all.length ? all[value] : STOPPED;
  }
}
