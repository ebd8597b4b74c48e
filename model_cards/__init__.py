"""Model card templates shipped with mlflow-monitor."""
