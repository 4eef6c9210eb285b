package io.imageflight.spark;

import java.util.List;
import org.apache.spark.sql.connector.read.InputPartition;

/** One Flight endpoint: its opaque ticket and the equivalent locations, preferred first. */
final class EndpointPartition implements InputPartition {
  private static final long serialVersionUID = 1L;

  final int index;
  final byte[] ticket;
  final String[] locations;

  EndpointPartition(int index, byte[] ticket, List<String> locations) {
    this.index = index;
    this.ticket = ticket;
    this.locations = locations.toArray(new String[0]);
  }

  /** The hosts of the endpoint's workers: Spark runs the task on an executor beside one. */
  @Override
  public String[] preferredLocations() {
    return java.util.Arrays.stream(locations).map(l -> {
      try {
        return FlightClient.parseLocation(l).getHost();
      } catch (IllegalArgumentException e) {
        return null;
      }
    }).filter(h -> h != null).distinct().toArray(String[]::new);
  }

  @Override
  public String toString() {
    return "EndpointPartition(" + index + ", " + java.util.Arrays.toString(locations) + ")";
  }
}
