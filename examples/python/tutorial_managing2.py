# Toil documentation example tutorial_managing2.py (global files: write, read, stream,
# delete; prints b'Out brief candle'), run on moil. Only the import lines differ.
from runner import Job, Toil
import os
import sys

def globalFileStoreJobFn(job):
    job.log("The following example exercises all the methods provided"
            " by the toil.fileStore.fileStore.FileStore class")

    scratchFile = job.fileStore.getLocalTempFile()

    with open(scratchFile, 'w') as fH:
        fH.write("What a tangled web we weave")

    fileID = job.fileStore.writeGlobalFile(scratchFile)

    with job.fileStore.writeGlobalFileStream(cleanup=True) as (fH, fileID2):
        if sys.version_info >= (3, 0):
            fH.write(b"Out brief candle")
        else:
            fH.write("Out brief candle")

    scratchFile2 = job.fileStore.readGlobalFile(fileID)

    scratchFile3 = os.path.join(job.tempDir, "foo.txt")
    job.fileStore.readGlobalFile(fileID2, userPath=scratchFile3)

    with job.fileStore.readGlobalFileStream(fileID2) as fH:
        print(fH.read())

    job.fileStore.deleteGlobalFile(fileID)

if __name__=="__main__":
    options = Job.Runner.getDefaultOptions("./toilWorkflowRun")
    options.logLevel = "INFO"
    options.clean = "always"

    with Toil(options) as toil:
        toil.start(Job.wrapJobFn(globalFileStoreJobFn))
