# Placeholder: the container image arrives with the GitHub Action / deployment issue.
FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -c constraints.txt .
ENTRYPOINT ["aqm"]
