"""Sensor models. Each reads the true state (`WorldLog`) and produces plain data (numpy arrays,
bytes, dicts) on its own clock; writers turn that data into ROS messages. Part 2 (camera realism,
lidar ray casting against a richer scene, faults) replaces modules here without touching the world."""
