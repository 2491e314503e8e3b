# The EKS minor version we target (deploy/eks/cluster.yaml); manifests validate against it.
EKS_VERSION = "1.32"
