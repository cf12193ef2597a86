"""Past one machine: fit on a sample on one device, apply the model everywhere with Dask.

The fit is the single-process pipeline itself (:class:`gpun2d.N2D`) run on a
random sample of the rows; every Dask worker then loads the fitted model and
labels its own partitions. Because a row's cluster depends on that row alone
(:mod:`gpun2d.placement`), the labels equal the single-process ``predict``.

* :mod:`.shards`: Parquet or ``.npy`` shards read lazily as Dask partitions;
* :mod:`.client`: the Dask cluster to run on (an address, or a local one);
* :mod:`.sample`: partition lengths, the fit sample's size and its rows;
* :mod:`.apply`: the fitted model shipped to the workers, labels per partition;
* :mod:`.job`: ``gpun2d run --scheduler``: all of it, with outputs published whole.

Dask itself is imported only by these modules (``pip install gpun2d[dask]``).
"""
