"""Value sets the chart is rendered with: every ci/*-values.yaml plus inline scenarios."""

from __future__ import annotations

from typing import Any

from .rendering import BASE_VALUES, CI_VALUES_FILES, ci_values, deep_merge

_INLINE: dict[str, dict[str, Any]] = {
    "defaults": {},
    "sqlite-without-persistence": {"store": {"sqlite": {"persistence": {"enabled": False}}}},
    "sqlite-existing-claim-and-storage-class": {
        "store": {"sqlite": {"persistence": {"existingClaim": "referrals-data"}}}
    },
    "sqlite-no-dynamic-provisioning": {
        "store": {"sqlite": {"persistence": {"storageClass": "-", "keep": False}}}
    },
    "postgresql-plaintext-url-fixed-replicas": {
        "store": {"mode": "postgresql", "postgresql": {"url": "postgresql://u:p@db:5432/r"}},
        "replicaCount": 3,
        "pdb": {"minAvailable": "50%"},
    },
    "postgresql-migration-as-the-owner-with-an-existing-service-account": {
        "store": {
            "mode": "postgresql",
            "postgresql": {
                "existingSecret": "db",
                "migration": {"existingSecret": "db-owner", "waitSeconds": 30, "resources": {}},
            },
        },
        "serviceAccount": {"create": False, "name": "referrals"},
        "podAnnotations": {"sidecar.istio.io/inject": "false"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "kafka"}],
    },
    "ssl-with-ca-only": {
        "kafka": {
            "securityProtocol": "SSL",
            "tls": {"existingSecret": "kafka-ca"},
        },
    },
    "ssl-with-system-cas": {"kafka": {"securityProtocol": "SSL"}},
    "hooks-and-overrides": {
        "image": {"digest": "sha256:" + "a" * 64},
        "commonLabels": {"team": "referrals"},
        "commonAnnotations": {"owner": "referrals@example.com"},
        "podAntiAffinityPreset": "hard",
        "nodeSelector": {"kubernetes.io/arch": "amd64"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "kafka"}],
        "priorityClassName": "high",
        "podAnnotations": {"example.com/note": "x"},
        "podLabels": {"tier": "backend"},
        "extraEnvVars": [{"name": "REFERRALS_LOG_LEVEL", "value": "DEBUG"}],
        "extraEnvVarsCM": "referral-extra",
        "extraEnvVarsSecret": "referral-extra-secret",
        "extraVolumes": [{"name": "scratch", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
        "initContainers": [{"name": "wait", "image": "busybox:1.36", "command": ["true"]}],
        "sidecars": [{"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"}],
        "customLivenessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 20},
        "readinessProbe": {"enabled": False},
        "serviceAccount": {"create": False, "name": "referrals"},
        "imagePullSecrets": [{"name": "regcred"}],
    },
    "everything-on-with-podmonitor": {
        "store": {"mode": "postgresql", "postgresql": {"existingSecret": "db"}},
        "autoscaling": {"keda": {"enabled": True, "minReplicaCount": 0}},
        "metrics": {"podMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
        "dashboard": {"enabled": True, "namespace": "grafana"},
        "networkPolicy": {
            "enabled": True,
            "ingress": {"allowExternal": False, "podSelector": {"app": "prometheus"}},
            "egress": {"extraRules": [{"ports": [{"port": 443, "protocol": "TCP"}]}]},
        },
    },
    "multi-tenant-with-expiry-secret": {
        "kafka": {"topics": {"tenants": {"org-a": "commands-org-a", "org-b": "commands-org-b"}}},
        "config": {"expirySecret": {"existingSecret": "referrals-expiry"}},
    },
    "network-policy-ingress-only": {
        "networkPolicy": {"enabled": True, "egress": {"enabled": False}},
    },
    "read-api-with-jwt-keys-ingress-and-network-policy": {
        "store": {"mode": "postgresql", "postgresql": {"existingSecret": "db"}},
        "api": {
            "enabled": True,
            "auth": {
                "jwt": {
                    "issuer": "https://issuer.example/v2.0",
                    "audience": "api://referrals",
                    "jwksUrl": "https://issuer.example/keys",
                },
                "apiKeys": {"existingSecret": "referral-api-keys"},
            },
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "host": "referrals.example.com",
                "tlsSecret": "referrals-tls",
            },
            "networkPolicyFrom": [{"namespaceSelector": {"matchLabels": {"team": "crm"}}}],
        },
        "networkPolicy": {"enabled": True},
    },
    "webhooks-for-development-to-receivers-inside-the-network": {
        "api": {"enabled": True, "auth": {"apiKeys": {"existingSecret": "referral-api-keys"}}},
        "webhooks": {"allowHttp": True, "allowPrivateTargets": True, "retryPeriod": "PT1H"},
        "networkPolicy": {
            "enabled": True,
            "egress": {"webhooks": {"ports": [80, 443], "ipBlocks": [{"cidr": "10.20.0.0/16"}]}},
        },
    },
}

SCENARIOS: dict[str, dict[str, Any]] = {
    **{path.stem: ci_values(path) for path in CI_VALUES_FILES},
    **{name: deep_merge(BASE_VALUES, values) for name, values in _INLINE.items()},
}
