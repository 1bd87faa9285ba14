package io.corral;

import io.corral.v1.Protos.Offer;
import io.corral.v1.Protos.Resource;
import io.corral.v1.Protos.Value;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What is left of an offer while tasks are packed onto it. {@link #take} cuts resources from the
 * offer's own (keeping their role and allocation info, as the master requires), or returns empty
 * when what is asked no longer fits:
 *
 * <pre>{@code
 * ResourcePool pool = new ResourcePool(offer);
 * for (Optional<List<Resource>> r; (r = pool.take(0.5, 64, 0, 0)).isPresent(); )
 *   tasks.add(Helpers.commandTask(offer, "work", "./work.sh", r.get()));
 * }</pre>
 *
 * Scalars are counted in thousandths, as the master counts them, so subtraction never drifts.
 */
public final class ResourcePool {
  private static final int SCALE = 1000;
  private final Offer offer;
  private final List<Resource> scalars = new ArrayList<>();
  private final List<Long> left = new ArrayList<>();
  private final List<Resource> portResources = new ArrayList<>();
  private final List<List<long[]>> ports = new ArrayList<>();

  public ResourcePool(Offer offer) {
    this.offer = offer;
    for (Resource r : offer.getResourcesList()) {
      if (r.getType() == Value.Type.SCALAR) {
        scalars.add(r);
        left.add(Math.round(r.getScalar().getValue() * SCALE));
      } else if (r.getType() == Value.Type.RANGES && r.getName().equals("ports")) {
        portResources.add(r);
        List<long[]> rs = new ArrayList<>();
        for (Value.Range x : r.getRanges().getRangeList()) rs.add(new long[] {x.getBegin(), x.getEnd()});
        ports.add(rs);
      }
    }
  }

  public Offer offer() {
    return offer;
  }

  /** What is left, by resource name. */
  public Map<String, Double> remaining() {
    Map<String, Double> out = new HashMap<>();
    for (int i = 0; i < scalars.size(); i++) out.merge(scalars.get(i).getName(), left.get(i) / (double) SCALE, Double::sum);
    return out;
  }

  /** Cuts cpus, mem (MiB), disk (MiB) and {@code portCount} ports from the pool. */
  public Optional<List<Resource>> take(double cpus, double mem, double disk, int portCount) {
    Map<String, Double> want = new HashMap<>();
    want.put("cpus", cpus);
    want.put("mem", mem);
    want.put("disk", disk);
    return take(want, portCount);
  }

  /** Cuts any scalars by name, and {@code portCount} ports. */
  public Optional<List<Resource>> take(Map<String, Double> want, int portCount) {
    if (portCount < 0) throw new IllegalArgumentException("ports: expected a count >= 0, got " + portCount);
    Map<String, Long> need = new HashMap<>();
    for (Map.Entry<String, Double> e : want.entrySet()) {
      if (e.getValue() < 0) throw new IllegalArgumentException(e.getKey() + ": must be >= 0");
      long amount = Math.round(e.getValue() * SCALE);
      if (amount > 0) need.put(e.getKey(), amount);
    }
    for (Map.Entry<String, Long> e : need.entrySet()) {
      long have = 0;
      for (int i = 0; i < scalars.size(); i++) if (scalars.get(i).getName().equals(e.getKey())) have += left.get(i);
      if (have < e.getValue()) return Optional.empty();
    }
    long freePorts = 0;
    for (List<long[]> rs : ports) for (long[] r : rs) freePorts += r[1] - r[0] + 1;
    if (freePorts < portCount) return Optional.empty();
    List<Resource> out = new ArrayList<>();
    for (int i = 0; i < scalars.size(); i++) {
      Resource r = scalars.get(i);
      long amount = Math.min(left.get(i), need.getOrDefault(r.getName(), 0L));
      if (amount <= 0) continue;
      out.add(r.toBuilder().setScalar(Value.Scalar.newBuilder().setValue(amount / (double) SCALE)).build());
      left.set(i, left.get(i) - amount);
      need.put(r.getName(), need.get(r.getName()) - amount);
    }
    int wanted = portCount;
    for (int i = 0; i < portResources.size() && wanted > 0; i++) {
      Value.Ranges.Builder taken = Value.Ranges.newBuilder();
      for (long[] r : ports.get(i)) {
        while (wanted > 0 && r[0] <= r[1]) {
          taken.addRange(Value.Range.newBuilder().setBegin(r[0]).setEnd(r[0]));
          r[0]++;
          wanted--;
        }
      }
      if (taken.getRangeCount() > 0) out.add(portResources.get(i).toBuilder().setRanges(taken).build());
    }
    return Optional.of(out);
  }
}
