"""importFile from a URL, a job that reads it and writes an upper-case copy, exportFile of
the copy to a URL. Usage: s3_roundtrip.py JOBSTORE SRC_URL DEST_URL [toil options]"""

from runner import Job, Toil


def upper(job, file_id):
    path = job.fileStore.readGlobalFile(file_id)
    with open(path) as src:
        text = src.read()
    out = job.fileStore.getLocalTempFile()
    with open(out, "w") as dst:
        dst.write(text.upper())
    return job.fileStore.writeGlobalFile(out)


if __name__ == "__main__":
    parser = Job.Runner.getDefaultArgumentParser()
    parser.add_argument("src")
    parser.add_argument("dest")
    options = parser.parse_args()
    options.disableProgress = True
    with Toil(options) as toil:
        source = toil.importFile(options.src)
        result = toil.start(Job.wrapJobFn(upper, source))
        toil.exportFile(result, options.dest)
