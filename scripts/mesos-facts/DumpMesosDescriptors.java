// Writes the descriptors of the Mesos v1 API, as compiled into Mesos's own
// Java jar, to the FileDescriptorSet named by the first argument.
import com.google.protobuf.DescriptorProtos.FileDescriptorSet;
import com.google.protobuf.Descriptors.FileDescriptor;
import java.io.FileOutputStream;
import java.util.*;
public class DumpMesosDescriptors {
  public static void main(String[] a) throws Exception {
    String[] cls = {"org.apache.mesos.v1.Protos","org.apache.mesos.v1.scheduler.Protos","org.apache.mesos.v1.executor.Protos",
      "org.apache.mesos.v1.master.Protos","org.apache.mesos.v1.agent.Protos","org.apache.mesos.v1.maintenance.Protos",
      "org.apache.mesos.v1.quota.Protos","org.apache.mesos.v1.allocator.Protos","org.apache.mesos.v1.resource_provider.Protos"};
    FileDescriptorSet.Builder b = FileDescriptorSet.newBuilder();
    Set<String> seen = new HashSet<>();
    Deque<FileDescriptor> q = new ArrayDeque<>();
    for (String c : cls) q.add((FileDescriptor) Class.forName(c).getMethod("getDescriptor").invoke(null));
    while (!q.isEmpty()) { FileDescriptor f = q.poll(); if (!seen.add(f.getName())) continue; b.addFile(f.toProto()); q.addAll(f.getDependencies()); }
    try (FileOutputStream o = new FileOutputStream(a[0])) { b.build().writeTo(o); }
  }
}
