"""MangaAssist on ECS Fargate: the CDK app (network without NAT, the mesh, the data stores)."""
