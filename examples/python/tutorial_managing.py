# Toil documentation example tutorial_managing.py (a job's local temporary files), run on
# moil. Only the import lines differ from Toil's.
from runner import Job, Toil


class LocalFileStoreJob(Job):
    def run(self, fileStore):
        scratchDir = self.tempDir

        scratchFile = fileStore.getLocalTempFile()

if __name__=="__main__":
    options = Job.Runner.getDefaultOptions("./toilWorkflowRun")
    options.logLevel = "INFO"
    options.clean = "always"

    j = LocalFileStoreJob(disk="2G")

    with Toil(options) as toil:
        toil.start(j)
