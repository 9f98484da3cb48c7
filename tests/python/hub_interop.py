"""huggingface_hub's side of the shared-cache tests.

usage: hub_interop.py download|cached ORG/REPO FILE
Prints the local path huggingface_hub.hf_hub_download returns for FILE: from
the server in HF_ENDPOINT (download) or from the cache alone (cached, as with
HF_HUB_OFFLINE=1), into the cache HF_HOME names."""
import sys

from huggingface_hub import hf_hub_download

mode, repo, filename = sys.argv[1:4]
print(hf_hub_download(repo, filename, local_files_only=(mode == "cached")))
